package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestBoundedDBURL(t *testing.T) {
	u, err := BoundedDBURL("postgres://shop:pw@127.0.0.1:5432/shop?sslmode=disable", ReadLimits)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConnectTimeout.Seconds() != 5 || cfg.RuntimeParams["lock_timeout"] != "5000" ||
		cfg.RuntimeParams["statement_timeout"] != "10000" || cfg.Password != "pw" || cfg.TLSConfig != nil {
		t.Errorf("parsed %s: connect %s, params %v", u, cfg.ConnectTimeout, cfg.RuntimeParams)
	}
	if _, err := BoundedDBURL("postgres://a b:%zz@host/db", ReadLimits); err == nil {
		t.Error("a malformed url was accepted")
	}
}

func TestExplainDBTimeout(t *testing.T) {
	lock := fmt.Errorf("count orders: %w", &pgconn.PgError{Code: "55P03", Message: "canceling statement due to lock timeout"})
	if got := ExplainDBTimeout(lock); !strings.Contains(got.Error(), "did not answer in time") || !errors.Is(got, lock) {
		t.Errorf("lock timeout explained as %v", got)
	}
	other := &pgconn.PgError{Code: "23502", Message: "null value"}
	if got := ExplainDBTimeout(other); got != error(other) {
		t.Errorf("a NOT NULL violation was rewritten: %v", got)
	}
}

func TestExplainDBTimeoutFromText(t *testing.T) {
	err := errors.New("read database: count orders: ERROR: canceling statement due to lock timeout (SQLSTATE 55P03)")
	if got := ExplainDBTimeout(err); !strings.Contains(got.Error(), "did not answer in time") {
		t.Errorf("text-only lock timeout explained as %v", got)
	}
}
