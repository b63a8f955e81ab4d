package platform

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// HTTPClient is the client services use to call each other by alias. Idle connections are kept short so a
// rolling deploy moves traffic to new instances quickly (a new connection resolves the alias again).
func HTTPClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     5 * time.Second,
	}
	return &http.Client{Timeout: timeout, Transport: tr}
}

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
