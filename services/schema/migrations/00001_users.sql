-- v2.3.0 base: simulated shop users 1..1000 (the loadgen's stable user ids).
-- +goose Up
CREATE TABLE users (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (id, name, email)
SELECT i, 'User ' || i, 'user' || i || '@shop.example'
FROM generate_series(1, 1000) AS i;

-- +goose Down
DROP TABLE users;
