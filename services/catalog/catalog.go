package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/platform"
)

// Product is one catalog row.
type Product struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Searchable  bool   `json:"-"`
}

// Source loads the full product list.
type Source interface {
	Products(ctx context.Context) ([]Product, error)
}

// PGSource reads products from Postgres.
type PGSource struct{ Pool *pgxpool.Pool }

// Products implements Source.
func (s PGSource) Products(ctx context.Context) ([]Product, error) {
	rows, err := s.Pool.Query(ctx, "SELECT id, name, description, price_cents, searchable FROM products ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("query products: %w", err)
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Searchable); err != nil {
			return nil, fmt.Errorf("scan product: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	return out, nil
}

// Catalog serves products from an in-memory cache of a Source.
type Catalog struct {
	src Source
	log *zap.Logger
	// Latencies are the simulated work per handler (zero Dist in tests).
	Search, List, Item Dist

	loadMu   sync.Mutex // one synchronous first load at a time
	mu       sync.RWMutex
	products []Product
	byID     map[int64]Product
	loaded   time.Time
}

// New returns a catalog with the default latencies and an empty cache.
func New(src Source, log *zap.Logger) *Catalog {
	return &Catalog{src: src, log: log, Search: SearchLatency, List: ListLatency, Item: ProductLatency}
}

// SetSource sets where products come from (Run sets it once the database answers).
func (c *Catalog) SetSource(src Source) {
	c.mu.Lock()
	c.src = src
	c.mu.Unlock()
}

// Refresh reloads the cache from the source.
func (c *Catalog) Refresh(ctx context.Context) error {
	c.mu.RLock()
	src := c.src
	c.mu.RUnlock()
	if src == nil {
		return errors.New("no product source yet")
	}
	ps, err := src.Products(ctx)
	if err != nil {
		return err
	}
	by := make(map[int64]Product, len(ps))
	for _, p := range ps {
		by[p.ID] = p
	}
	c.mu.Lock()
	c.products, c.byID, c.loaded = ps, by, time.Now()
	c.mu.Unlock()
	return nil
}

// Keep refreshes the cache until ctx ends: every second until the first load succeeds, then every interval.
func (c *Catalog) Keep(ctx context.Context, interval time.Duration) {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := c.Refresh(ctx); err != nil {
			c.log.Warn("refresh product cache", zap.Error(err))
			if c.snapshot() == nil {
				wait = time.Second
				continue
			}
		}
		wait = interval
	}
}

// ready returns the cached products, loading them first if no load has succeeded yet, so the first
// requests after start wait for Postgres instead of failing.
func (c *Catalog) ready(ctx context.Context) []Product {
	if ps := c.snapshot(); ps != nil {
		return ps
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if ps := c.snapshot(); ps != nil {
		return ps
	}
	if err := c.Refresh(ctx); err != nil {
		c.log.Warn("load product cache on request", zap.Error(err))
	}
	return c.snapshot()
}

func (c *Catalog) snapshot() []Product {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.products
}

// Mount registers the catalog routes.
func (c *Catalog) Mount(handle func(string, http.HandlerFunc)) {
	handle("GET /search", c.handleSearch)
	handle("GET /products", c.handleList)
	handle("GET /products/{id}", c.handleItem)
}

func notReady(w http.ResponseWriter) {
	platform.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "catalog not loaded yet"})
}

const maxSearchResults = 20

func (c *Catalog) handleSearch(w http.ResponseWriter, r *http.Request) {
	c.Search.Wait(r.Context())
	ps := c.ready(r.Context())
	if ps == nil {
		notReady(w)
		return
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	res := []Product{}
	for _, p := range ps {
		if !p.Searchable {
			continue
		}
		if q == "" || strings.Contains(strings.ToLower(p.Name), q) || strings.Contains(strings.ToLower(p.Description), q) {
			res = append(res, p)
			if len(res) == maxSearchResults {
				break
			}
		}
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"query": q, "count": len(res), "products": res})
}

const defaultPageSize, maxPageSize = 50, 200

func (c *Catalog) handleList(w http.ResponseWriter, r *http.Request) {
	c.List.Wait(r.Context())
	ps := c.ready(r.Context())
	if ps == nil {
		notReady(w)
		return
	}
	limit, offset := defaultPageSize, 0
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 {
		limit = min(v, maxPageSize)
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("offset")); err == nil && v > 0 {
		offset = min(v, len(ps))
	}
	page := ps[offset:min(offset+limit, len(ps))]
	platform.WriteJSON(w, http.StatusOK, map[string]any{"total": len(ps), "offset": offset, "products": page})
}

func (c *Catalog) handleItem(w http.ResponseWriter, r *http.Request) {
	c.Item.Wait(r.Context())
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "product id must be an integer"})
		return
	}
	if c.ready(r.Context()) == nil {
		notReady(w)
		return
	}
	c.mu.RLock()
	p, ok := c.byID[id]
	c.mu.RUnlock()
	if !ok {
		platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such product"})
		return
	}
	platform.WriteJSON(w, http.StatusOK, p)
}

// Run serves the catalog role.
func Run(ctx context.Context, cfg platform.Config) error {
	log := platform.NewLogger(cfg)
	defer log.Sync() //nolint:errcheck
	s := platform.NewServer(cfg, log)
	c := New(nil, log)
	c.Mount(s.Handle)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Serve at once (503 until loaded) while Postgres may still be starting.
	go func() {
		pool, err := platform.OpenDB(ctx, cfg)
		if err != nil {
			log.Error("open database", zap.Error(err))
			return
		}
		defer pool.Close()
		c.SetSource(PGSource{Pool: pool})
		c.Keep(ctx, RefreshInterval)
	}()
	if err := s.Run(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}
