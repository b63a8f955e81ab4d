package control

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sandbox-labs/sandbox/services/topology"
)

// ScrapedRoles are the aliases the control room resolves and scrapes (itself excluded).
var ScrapedRoles = topology.Names(topology.Role.Scraped)

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
		var (
			mu  sync.Mutex
			wg  sync.WaitGroup
			out = map[string][]string{}
		)
		// Concurrently and with a timeout: an alias nobody holds may be forwarded to an upstream resolver
		// that never answers, and must not hold up the scrape of the others.
		for _, role := range ScrapedRoles {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				addrs, err := lookup(lctx, role)
				if err != nil || len(addrs) == 0 {
					return
				}
				var hp []string
				for _, a := range addrs {
					hp = append(hp, net.JoinHostPort(a, port))
				}
				sort.Strings(hp)
				mu.Lock()
				out[role] = hp
				mu.Unlock()
			}()
		}
		wg.Wait()
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
