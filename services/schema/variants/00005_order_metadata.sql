-- v2.4.0 PR #905, safe expand form (game days with the not-null fault disabled): nullable with a default,
-- so code that does not know the column keeps inserting.
-- +goose Up
ALTER TABLE orders ADD COLUMN order_metadata jsonb DEFAULT '{}';

-- +goose Down
ALTER TABLE orders DROP COLUMN order_metadata;
