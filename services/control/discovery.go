package control

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
)

// ScrapedRoles are the aliases the control room resolves and scrapes (itself excluded).
var ScrapedRoles = []string{"gateway", "checkout", "orders", "payments", "provider", "catalog", "auth", "loadgen"}

// LookupHost resolves an alias to addresses; net.DefaultResolver.LookupHost by default.
type LookupHost func(ctx context.Context, host string) ([]string, error)

// Discoverer returns the live instances (host:port) of each role.
type Discoverer func(ctx context.Context) map[string][]string

// DNSDiscoverer resolves every role alias and appends port. A role whose alias does not resolve has no
// instances (stopped, or not started yet).
func DNSDiscoverer(lookup LookupHost, port string) Discoverer {
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	return func(ctx context.Context) map[string][]string {
		out := map[string][]string{}
		for _, role := range ScrapedRoles {
			addrs, err := lookup(ctx, role)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				out[role] = append(out[role], net.JoinHostPort(a, port))
			}
			sort.Strings(out[role])
		}
		return out
	}
}

// ParseStatic parses SANDBOX_DISCOVERY_STATIC: "role=host:port,role=host:port,..."; a role may repeat.
func ParseStatic(spec string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		role, addr, ok := strings.Cut(part, "=")
		if !ok || role == "" || addr == "" {
			return nil, fmt.Errorf("discovery entry %q: want role=host:port", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("discovery entry %q: %w", part, err)
		}
		out[role] = append(out[role], addr)
	}
	return out, nil
}

// StaticDiscoverer always returns the same instances.
func StaticDiscoverer(m map[string][]string) Discoverer {
	return func(context.Context) map[string][]string {
		out := make(map[string][]string, len(m))
		for k, v := range m {
			out[k] = append([]string(nil), v...)
		}
		return out
	}
}
