-- v2.3.0 base: the catalog, 200 products (10 adjectives x 20 nouns, every name unique).
-- +goose Up
CREATE TABLE products (
    id          bigint PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    searchable  boolean NOT NULL DEFAULT true
);
INSERT INTO products (id, name, description, price_cents, searchable)
SELECT i,
       a.adj || ' ' || n.noun,
       'A ' || lower(a.adj) || ' ' || lower(n.noun) || ' for everyday use.',
       499 + ((i * 7919) % 19500),
       i % 25 <> 0
FROM generate_series(1, 200) AS i,
     LATERAL (SELECT (ARRAY['Red','Blue','Green','Classic','Modern','Compact','Deluxe','Rustic','Silver','Walnut'])[1 + (i - 1) % 10] AS adj) a,
     LATERAL (SELECT (ARRAY['Mug','Lamp','Chair','Desk','Backpack','Notebook','Kettle','Blanket','Clock','Speaker',
                            'Headphones','Bottle','Plant Pot','Toaster','Umbrella','Wallet','Jacket','Sneakers','Watch','Pillow'])[1 + (i - 1) / 10] AS noun) n;

-- +goose Down
DROP TABLE products;
