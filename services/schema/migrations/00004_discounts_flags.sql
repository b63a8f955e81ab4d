-- v2.3.0 base: discount codes and feature flags. The discount_codes flag starts enabled for 15% of users
-- (it gates the web UI's discount field).
-- +goose Up
CREATE TABLE discount_codes (
    code        text PRIMARY KEY,
    percent_off integer NOT NULL CHECK (percent_off BETWEEN 1 AND 100),
    active      boolean NOT NULL DEFAULT true
);
INSERT INTO discount_codes (code, percent_off, active) VALUES
    ('SAVE10', 10, true),
    ('WELCOME15', 15, true),
    ('SPRING20', 20, true),
    ('EXPIRED5', 5, false);

CREATE TABLE feature_flags (
    name            text PRIMARY KEY,
    enabled         boolean NOT NULL DEFAULT false,
    rollout_percent integer NOT NULL DEFAULT 0 CHECK (rollout_percent BETWEEN 0 AND 100),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO feature_flags (name, enabled, rollout_percent) VALUES ('discount_codes', true, 15);

-- +goose Down
DROP TABLE feature_flags;
DROP TABLE discount_codes;
