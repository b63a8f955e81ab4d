-- v2.4.0 PR #905: add orders.order_metadata. The default backfills existing rows, then is dropped, which
-- leaves the column NOT NULL without a default: code that does not write it (v2.3.0) can no longer insert.
-- +goose Up
ALTER TABLE orders ADD COLUMN order_metadata jsonb NOT NULL DEFAULT '{}';
ALTER TABLE orders ALTER COLUMN order_metadata DROP DEFAULT;

-- +goose Down
ALTER TABLE orders DROP COLUMN order_metadata;
