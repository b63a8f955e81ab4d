package payments

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGStore keeps payments in Postgres. It names its columns, so it works on every schema version.
type PGStore struct{ DB *pgxpool.Pool }

// Insert records p and returns it with id and created_at.
func (st PGStore) Insert(ctx context.Context, p Payment) (Payment, error) {
	var ref *string
	if p.ProviderRef != "" {
		ref = &p.ProviderRef
	}
	err := st.DB.QueryRow(ctx, `INSERT INTO payments (order_id, amount_cents, method, status, sdk_version, provider_ref)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at`,
		p.OrderID, p.AmountCents, p.Method, p.Status, p.SDKVersion, ref).Scan(&p.ID, &p.CreatedAt)
	if err != nil {
		return p, fmt.Errorf("insert payment: %w", err)
	}
	return p, nil
}

// Get returns payment id.
func (st PGStore) Get(ctx context.Context, id int64) (Payment, error) {
	var p Payment
	var ref *string
	err := st.DB.QueryRow(ctx, `SELECT id, order_id, amount_cents, method, status, sdk_version, provider_ref, created_at
		FROM payments WHERE id = $1`, id).Scan(&p.ID, &p.OrderID, &p.AmountCents, &p.Method, &p.Status, &p.SDKVersion, &ref, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("get payment %d: %w", id, err)
	}
	if ref != nil {
		p.ProviderRef = *ref
	}
	return p, nil
}

// OrderTotal returns the total of order id.
func (st PGStore) OrderTotal(ctx context.Context, id int64) (int64, error) {
	var total int64
	err := st.DB.QueryRow(ctx, `SELECT total_cents FROM orders WHERE id = $1`, id).Scan(&total)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("get order %d total: %w", id, err)
	}
	return total, nil
}
