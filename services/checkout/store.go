package checkout

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGStore reads products, discount_codes and feature_flags from Postgres.
type PGStore struct{ DB *pgxpool.Pool }

// Prices returns price_cents by product id for the ids that exist.
func (st PGStore) Prices(ctx context.Context, ids []int64) (map[int64]int64, error) {
	rows, err := st.DB.Query(ctx, `SELECT id, price_cents FROM products WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("query prices: %w", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, p int64
		if err := rows.Scan(&id, &p); err != nil {
			return nil, fmt.Errorf("scan price: %w", err)
		}
		out[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query prices: %w", err)
	}
	return out, nil
}

// Discount returns discount code (already upper-cased), ErrNotFound when unknown.
func (st PGStore) Discount(ctx context.Context, code string) (Discount, error) {
	d := Discount{Code: code}
	err := st.DB.QueryRow(ctx, `SELECT percent_off, active FROM discount_codes WHERE code = $1`, code).Scan(&d.PercentOff, &d.Active)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("query discount code: %w", err)
	}
	return d, nil
}

// Flag returns feature flag name, ErrNotFound when unknown.
func (st PGStore) Flag(ctx context.Context, name string) (Flag, error) {
	f := Flag{Name: name}
	err := st.DB.QueryRow(ctx, `SELECT enabled, rollout_percent FROM feature_flags WHERE name = $1`, name).Scan(&f.Enabled, &f.RolloutPercent)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("query feature flag: %w", err)
	}
	return f, nil
}
