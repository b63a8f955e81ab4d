-- v2.3.0 base: orders and payments. No foreign keys on purpose: a failing insert in one service must never
-- be caused by another table's state, so each fault stays visible on its own.
-- +goose Up
CREATE TABLE orders (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL,
    total_cents     bigint NOT NULL,
    status          text NOT NULL DEFAULT 'created',
    discount_code   text NULL,
    idempotency_key text UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_idx ON orders (user_id, id DESC);

CREATE TABLE payments (
    id           bigserial PRIMARY KEY,
    order_id     bigint NULL,
    amount_cents bigint NOT NULL,
    method       text NOT NULL,
    status       text NOT NULL,
    sdk_version  text NOT NULL DEFAULT '',
    provider_ref text NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_order_id_idx ON payments (order_id);

-- +goose Down
DROP TABLE payments;
DROP TABLE orders;
