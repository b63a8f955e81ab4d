package platform

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIdentityTransportRejectsAnotherRole(t *testing.T) {
	answer := "payments"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sandbox-Service", answer)
	}))
	defer srv.Close()
	tr := &identityTransport{base: http.DefaultTransport}
	// The request names the orders alias but lands on a payments instance (as after an IP reuse).
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.URL.Host = "orders:" + req.URL.Port()
	req.Host = req.URL.Host
	direct := &http.Transport{DialContext: func(ctx contextT, network, _ string) (connT, error) {
		return dialer.DialContext(ctx, network, srv.Listener.Addr().String())
	}}
	tr.base = direct
	if _, err := tr.RoundTrip(req); !errors.Is(err, ErrWrongInstance) {
		t.Fatalf("orders answered by payments: err = %v, want ErrWrongInstance", err)
	}
	answer = "orders"
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("orders answered by orders: %v", err)
	}
	resp.Body.Close()
	// Hosts that are not role aliases (tests, external URLs) are not checked.
	req2, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	answer = "payments"
	resp, err = (&identityTransport{base: http.DefaultTransport}).RoundTrip(req2)
	if err != nil {
		t.Fatalf("non-alias host: %v", err)
	}
	resp.Body.Close()
}

func TestDialAnyInstanceSkipsDeadAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// "localhost" resolves to 127.0.0.1 (and maybe ::1); a refused or dead address must fall through.
	conn, err := dialAnyInstance(t.Context(), "tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("dial via a name with a live address: %v", err)
	}
	conn.Close()
	// An address that does not answer (TEST-NET-1, RFC 5737) is an error naming the address, not a hang.
	if _, err := dialAnyInstance(t.Context(), "tcp", "192.0.2.1:8080"); err == nil {
		t.Fatal("dial to a dead address succeeded")
	}
}
