-- The same schema as migrations/postgres in SQLite's types: ids and times are TEXT
-- (UUID strings, RFC 3339), JSON is TEXT. See the Postgres migration for why each part exists.
CREATE TABLE events (
    id          TEXT    PRIMARY KEY,
    spec        TEXT    NOT NULL,
    paused      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE TABLE orders (
    id               TEXT    PRIMARY KEY,
    event_id         TEXT    NOT NULL REFERENCES events (id),
    idempotency_key  TEXT    NOT NULL,
    request_hash     TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    session          TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    total_cents      INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    created_at       TEXT    NOT NULL,
    cancelled_at     TEXT,
    CONSTRAINT orders_idempotency_key UNIQUE (event_id, idempotency_key)
);
CREATE INDEX orders_by_event ON orders (event_id, id);

CREATE TABLE order_items (
    order_id     TEXT    NOT NULL REFERENCES orders (id),
    event_id     TEXT    NOT NULL,
    item_id      TEXT    NOT NULL,
    tier         TEXT    NOT NULL,
    price_cents  INTEGER NOT NULL,
    cancelled    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, item_id)
);
CREATE UNIQUE INDEX order_items_sold_once ON order_items (event_id, item_id) WHERE NOT cancelled;
