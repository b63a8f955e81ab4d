package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/internal/testenv"
)

type fakeSource struct {
	ps    []Product
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *fakeSource) Products(context.Context) ([]Product, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return nil, errors.New("db down")
	}
	return f.ps, nil
}

func testCatalog(t *testing.T, src Source) *httptest.Server {
	t.Helper()
	c := New(src, zap.NewNop())
	c.Search, c.List, c.Item = Dist{}, Dist{}, Dist{}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(func(p string, h http.HandlerFunc) { mux.HandleFunc(p, h) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := testHTTP.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

var sample = []Product{
	{ID: 1, Name: "Red Mug", Description: "A red mug.", PriceCents: 999, Searchable: true},
	{ID: 2, Name: "Blue Lamp", Description: "A blue lamp.", PriceCents: 2999, Searchable: true},
	{ID: 3, Name: "Red Lamp", Description: "Hidden.", PriceCents: 1999, Searchable: false},
}

func TestSearchMatchesSearchableOnly(t *testing.T) {
	srv := testCatalog(t, &fakeSource{ps: sample})
	var res struct {
		Count    int       `json:"count"`
		Products []Product `json:"products"`
	}
	if code := getJSON(t, srv.URL+"/search?q=RED", &res); code != 200 {
		t.Fatalf("status %d", code)
	}
	if res.Count != 1 || res.Products[0].ID != 1 {
		t.Errorf("search red = %+v, want only product 1 (3 is not searchable)", res)
	}
	if getJSON(t, srv.URL+"/search?q=lamp", &res); res.Count != 1 || res.Products[0].ID != 2 {
		t.Errorf("search lamp = %+v", res)
	}
}

func TestProductsAndItem(t *testing.T) {
	srv := testCatalog(t, &fakeSource{ps: sample})
	var list struct {
		Total    int       `json:"total"`
		Products []Product `json:"products"`
	}
	if getJSON(t, srv.URL+"/products?limit=2", &list); list.Total != 3 || len(list.Products) != 2 {
		t.Errorf("list = %+v", list)
	}
	var p Product
	if code := getJSON(t, srv.URL+"/products/2", &p); code != 200 || p.Name != "Blue Lamp" || p.PriceCents != 2999 {
		t.Errorf("item 2 = %d %+v", code, p)
	}
	if code := getJSON(t, srv.URL+"/products/99", nil); code != 404 {
		t.Errorf("missing item = %d, want 404", code)
	}
	if code := getJSON(t, srv.URL+"/products/abc", nil); code != 400 {
		t.Errorf("bad id = %d, want 400", code)
	}
}

func TestNotReadyUntilLoadedAndCacheSurvivesFailure(t *testing.T) {
	src := &fakeSource{ps: sample}
	src.fail.Store(true)
	c := New(src, zap.NewNop())
	c.Search, c.List, c.Item = Dist{}, Dist{}, Dist{}
	mux := http.NewServeMux()
	c.Mount(func(p string, h http.HandlerFunc) { mux.HandleFunc(p, h) })
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/products", nil))
	if rec.Code != 503 {
		t.Fatalf("before load: %d, want 503", rec.Code)
	}
	// The first request after the database answers loads the cache itself.
	src.fail.Store(false)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/search?q=mug", nil))
	if rec.Code != 200 {
		t.Fatalf("first request after the source recovered: %d, want 200", rec.Code)
	}
	src.fail.Store(true)
	if err := c.Refresh(context.Background()); err == nil {
		t.Fatal("refresh with failing source succeeded")
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/products/1", nil))
	if rec.Code != 200 {
		t.Errorf("after failed refresh the cached catalog must still serve: %d", rec.Code)
	}
}

func TestKeepRetriesUntilFirstLoad(t *testing.T) {
	src := &fakeSource{ps: sample}
	src.fail.Store(true)
	c := New(src, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Keep(ctx, time.Hour); close(done) }()
	// The first failed load is retried.
	testenv.WaitFor(t, 10*time.Second, "catalog load retried", func() bool { return src.calls.Load() >= 2 })
	src.fail.Store(false)
	testenv.WaitFor(t, 10*time.Second, "catalog loaded", func() bool { return c.snapshot() != nil })
	cancel()
	<-done
	if len(c.snapshot()) != 3 {
		t.Errorf("cache has %d products", len(c.snapshot()))
	}
}

func TestDistSampleBounds(t *testing.T) {
	d := Dist{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond, TailProb: 0.5, TailMax: 20 * time.Millisecond}
	tail := 0
	for range 2000 {
		s := d.Sample()
		if s < d.Min || s > d.TailMax {
			t.Fatalf("sample %v outside [%v,%v]", s, d.Min, d.TailMax)
		}
		if s > d.Max {
			tail++
		}
	}
	if tail < 800 || tail > 1200 {
		t.Errorf("tail share %d/2000, want about half", tail)
	}
}
