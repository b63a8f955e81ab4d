package platform

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// A server that hangs up on the first connection without answering, then answers normally.
func hangUpOnce(t *testing.T) (*httptest.Server, *atomic.Int64, *[]string) {
	var hits atomic.Int64
	var bodies []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if hits.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits, &bodies
}

func TestHTTPClientReplaysKeyedRequestTheServerHungUpOn(t *testing.T) {
	srv, hits, bodies := hangUpOnce(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", strings.NewReader(`{"total":1}`))
	req.Header.Set("Idempotency-Key", "k-1")
	resp, err := HTTPClient(5 * time.Second).Do(req)
	if err != nil {
		t.Fatalf("keyed POST after a hang-up: %v, want it sent again and answered", err)
	}
	resp.Body.Close()
	if hits.Load() != 2 || (*bodies)[1] != `{"total":1}` {
		t.Fatalf("server saw %d requests with bodies %q, want 2 with the body replayed byte for byte", hits.Load(), *bodies)
	}
}

func TestHTTPClientDoesNotReplayUnkeyedPost(t *testing.T) {
	srv, hits, _ := hangUpOnce(t)
	_, err := HTTPClient(5*time.Second).Post(srv.URL+"/orders", "application/json", strings.NewReader(`{}`))
	if err == nil {
		t.Fatal("unkeyed POST after a hang-up succeeded: it was sent twice without an idempotency key")
	}
	if hits.Load() != 1 {
		t.Fatalf("server saw %d requests, want 1", hits.Load())
	}
}

// A draining server closes its listener with requests still in the accept queue; those connections are
// reset or closed unanswered. Keyed requests must then land elsewhere (here: be refused, as the only instance
// is gone), never fail as if the shop had dropped them.
func TestDrainDropsNoKeyedRequest(t *testing.T) {
	var answered, refused atomic.Int64
	var mu sync.Mutex
	var dropped []string
	for round := 0; round < 10; round++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := NewServer(Config{Service: "orders", Listener: ln}, zap.NewNop())
		s.Mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Millisecond) })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		client := HTTPClient(5 * time.Second)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/orders", strings.NewReader(`{}`))
					req.Header.Set("Idempotency-Key", "k")
					resp, err := client.Do(req)
					switch {
					case err == nil:
						resp.Body.Close()
						answered.Add(1)
					case errors.Is(err, syscall.ECONNREFUSED):
						refused.Add(1)
					default:
						mu.Lock()
						dropped = append(dropped, err.Error())
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(30 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		close(stop)
		wg.Wait()
	}
	if answered.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("answered %d, refused %d: the load did not span the drains", answered.Load(), refused.Load())
	}
	if len(dropped) > 0 {
		t.Fatalf("%d keyed requests failed across 10 drains (answered %d, refused %d), first: %s",
			len(dropped), answered.Load(), refused.Load(), dropped[0])
	}
}
