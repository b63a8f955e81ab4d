package provider

import (
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/release"
)

// TestLatencyShape checks the distribution, not the clock: quantiles of Sample over an even grid of u.
func TestLatencyShape(t *testing.T) {
	const n = 100000
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = DefaultLatency.Sample((float64(i) + 0.5) / n)
	}
	slices.Sort(ds)
	p50, p99 := ds[n/2], ds[n*99/100]
	if ds[0] < BaseLatency || ds[n-1] > MaxLatency {
		t.Fatalf("range %v..%v outside %v..%v", ds[0], ds[n-1], BaseLatency, MaxLatency)
	}
	if p50 < 50*time.Millisecond || p50 > 70*time.Millisecond {
		t.Fatalf("p50 = %v", p50)
	}
	if p99 < 160*time.Millisecond || p99 > 200*time.Millisecond {
		t.Fatalf("p99 = %v, want about 180ms", p99)
	}
	if (Latency{}).Sample(0.99) != 0 {
		t.Fatal("zero latency must not wait")
	}
}

func TestChargeAPIs(t *testing.T) {
	cfg := platform.Config{Service: "provider", Release: release.V230(), Env: func(string) string { return "" }}
	s := platform.NewServer(cfg, zap.NewNop())
	Mount(s, Latency{})
	ts := httptest.NewServer(s.Mux)
	defer ts.Close()
	cases := []struct {
		path, body string
		code       int
		want       string
	}{
		{"/v3/charges", `{"amount_cents":500}`, 200, `"api_version":"3"`},
		{"/v3/charges", `{"amount_cents":0}`, 400, "positive"},
		{"/v4/charges", `{"amount":{"value_cents":500},"options":{"payment_method":"card","capture":true}}`, 200, `"api_version":"4"`},
		{"/v4/charges", `{"amount":{"value_cents":500}}`, 400, "options are required"},
		{"/v4/charges", `{"amount_cents":500}`, 400, "value_cents"},
	}
	for _, c := range cases {
		resp, err := testHTTP.Post(ts.URL+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %d %s", c.path, c.body, resp.StatusCode, b)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	for i := 0; i < b.N; i++ {
		_ = DefaultLatency.Sample(0.5)
	}
}
