// Package dbstate polls the shop's Postgres for the state the grader cares about: the orders.order_metadata
// column, goose's migration version, feature flags and order row counts (Poll), and watches the rows already
// seen for data loss (Watch).
package dbstate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sandbox-labs/sandbox/services/status"
)

// State is one poll of the database: the shared status.DBState, which the control room serves at /api/state
// and the grader parses.
type State = status.DBState

// Column describes orders.order_metadata as information_schema reports it.
type Column = status.Column

// Querier is what Poll needs: a pool or a single connection.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

var _ Querier = (*pgxpool.Pool)(nil)

// Poll reads the state in one read-only transaction-free pass. Missing tables read as empty (before the
// migrations ran, or after someone dropped them), never as errors.
func Poll(ctx context.Context, q Querier, now time.Time) State {
	st := State{At: now.UTC(), Flags: []status.Flag{}}
	if err := poll(ctx, q, &st); err != nil {
		st.OK = false
		st.Error = err.Error()
		return st
	}
	st.OK = true
	return st
}

func poll(ctx context.Context, q Querier, st *State) error {
	var goose, orders, flags bool
	err := q.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL,
		to_regclass('orders') IS NOT NULL, to_regclass('feature_flags') IS NOT NULL`).Scan(&goose, &orders, &flags)
	if err != nil {
		return fmt.Errorf("check tables: %w", err)
	}
	st.OrdersTable = orders
	if goose {
		// goose's current version: the highest version whose latest row is applied (down migrations either
		// delete the row or record is_applied=false).
		err = q.QueryRow(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM (
			SELECT DISTINCT ON (version_id) version_id, is_applied FROM goose_db_version
			ORDER BY version_id, id DESC) v WHERE is_applied`).Scan(&st.MigrationVersion)
		if err != nil {
			return fmt.Errorf("read migration version: %w", err)
		}
	}
	if orders {
		var nullable string
		err = q.QueryRow(ctx, `SELECT is_nullable, column_default, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'orders' AND column_name = 'order_metadata'`).
			Scan(&nullable, &st.OrderMetadata.Default, &st.OrderMetadata.DataType)
		switch {
		case err == pgx.ErrNoRows:
		case err != nil:
			return fmt.Errorf("read order_metadata column: %w", err)
		default:
			st.OrderMetadata.Exists = true
			st.OrderMetadata.Nullable = nullable == "YES"
		}
		err = q.QueryRow(ctx, `SELECT count(*), COALESCE(max(id), 0) FROM orders`).Scan(&st.Orders, &st.MaxOrderID)
		if err != nil {
			return fmt.Errorf("count orders: %w", err)
		}
		if st.OrderMetadata.Exists {
			// Text comparison works whatever type the column was re-created with.
			err = q.QueryRow(ctx, `SELECT count(*) FROM orders
				WHERE order_metadata IS NOT NULL AND order_metadata::text <> '{}'`).Scan(&st.MetadataRows)
			if err != nil {
				return fmt.Errorf("count metadata rows: %w", err)
			}
		}
	}
	if flags {
		rows, err := q.Query(ctx, `SELECT name, enabled, rollout_percent FROM feature_flags ORDER BY name`)
		if err != nil {
			return fmt.Errorf("read feature flags: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var f status.Flag
			if err := rows.Scan(&f.Name, &f.Enabled, &f.RolloutPercent); err != nil {
				return fmt.Errorf("scan feature flag: %w", err)
			}
			st.Flags = append(st.Flags, f)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read feature flags: %w", err)
		}
	}
	return nil
}
