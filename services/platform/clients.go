package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sandbox-labs/sandbox/services/status"
)

// HTTPClient is the client services use to call each other by alias. Every request opens a new connection,
// so it resolves the alias again: a rolling deploy moves traffic as soon as the new instance answers, and a
// connection can never stay pinned to an address the engine has since handed to another container. A refused
// connection (an instance that stopped listening to drain) falls through to the alias's next address.
func HTTPClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:       dialAnyInstance,
		DisableKeepAlives: true,
	}
	return &http.Client{Timeout: timeout, Transport: &replayTransport{base: &identityTransport{base: tr}}}
}

// replayAttempts bounds how often one request is sent when the instance it reached closed without answering.
const replayAttempts = 3

// replayTransport sends a request again when the connection closed before any answer (EOF or reset). That is
// what a draining instance does to a request that was still in its listener's accept queue when it closed:
// the request was never read, and the next attempt dials the alias again and lands on a live instance
// (a closed listener refuses, and dialAnyInstance moves on). Go's transport replays only on reused
// connections, and every connection here is new. Only replayable requests are sent again: GET and HEAD,
// and requests carrying an Idempotency-Key (orders dedupes on it), with a body that can be read again.
type replayTransport struct{ base http.RoundTripper }

func (t *replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(req)
		if err == nil || attempt == replayAttempts || !replayable(req) || !closedUnanswered(err) || req.Context().Err() != nil {
			return resp, err
		}
		next := req.Clone(req.Context())
		if req.Body != nil && req.Body != http.NoBody {
			body, gerr := req.GetBody()
			if gerr != nil {
				return resp, err
			}
			next.Body = body
		}
		req = next
	}
}

func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	return req.Method == http.MethodGet || req.Method == http.MethodHead || req.Header.Get("Idempotency-Key") != ""
}

// closedUnanswered is a connection the server closed or reset before sending a response (a broken pipe is
// the same close seen while the request was still being written).
func closedUnanswered(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// perAddressTimeout bounds one connection attempt. On a bridge network a live container answers a SYN in
// well under a millisecond; an address that does not answer belongs to a container that just stopped (DNS
// can still name it for a moment), so give up on it quickly and try the next instance.
const perAddressTimeout = 500 * time.Millisecond

// dialAnyInstance resolves the alias itself and tries every address in random order, each with a short
// timeout. Go's own dialer would spend its whole timeout on the first address and, because it sorts the
// addresses, always try the same instance first.
func dialAnyInstance(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: perAddressTimeout}
	if net.ParseIP(host) != nil {
		return d.DialContext(ctx, network, addr)
	}
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	rand.Shuffle(len(ips), func(i, j int) { ips[i], ips[j] = ips[j], ips[i] })
	var errs []error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip, port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dial %s: no instance answered: %w", addr, errors.Join(errs...))
}

// ErrWrongInstance means an alias answered from a container of another role: the engine reused an IP
// address that a stale DNS answer still pointed at. The caller treats it like a refused connection.
var ErrWrongInstance = errors.New("answered by the wrong service")

// identityTransport checks that a call to <role>:port was answered by that role (every service stamps
// X-Sandbox-Service on every response), the way a service mesh checks a peer's identity.
type identityTransport struct{ base http.RoundTripper }

func (t *identityTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	want := req.URL.Hostname()
	if got := resp.Header.Get("X-Sandbox-Service"); got != "" && isRole(want) && got != want {
		resp.Body.Close()
		return nil, fmt.Errorf("call to %s %w (%s)", req.URL.Host, ErrWrongInstance, got)
	}
	return resp, nil
}

func isRole(host string) bool { return slices.Contains(status.Roles, host) }

// OpenDB connects to SANDBOX_DATABASE_URL, retrying until ctx ends (Postgres may still be starting).
func OpenDB(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("SANDBOX_DATABASE_URL is not set")
	}
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pc.MaxConns = 8
	for {
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err == nil {
			if err = pool.Ping(ctx); err == nil {
				return pool, nil
			}
			pool.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to database: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
