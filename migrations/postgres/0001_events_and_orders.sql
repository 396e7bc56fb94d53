-- Events keep the organizer's description as JSON: the inventory actor derives its seat map
-- and GA pools from it, and PATCH rewrites it whole, so a normalized copy would only drift.
CREATE TABLE events (
    id          UUID PRIMARY KEY,
    spec        JSONB       NOT NULL,
    -- Pause is the organizer's switch; scheduled / on sale / closed derive from the spec's times.
    paused      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- One row per order. UUID v7 ids are time-ordered, so they double as the listing cursor.
CREATE TABLE orders (
    id               UUID        PRIMARY KEY,
    event_id         UUID        NOT NULL REFERENCES events (id),
    -- Invariant 3: one Idempotency-Key makes one order, however many retries race.
    idempotency_key  TEXT        NOT NULL,
    -- SHA-256 of the request body, to tell a replay (200) from a reused key (422).
    request_hash     TEXT        NOT NULL,
    name             TEXT        NOT NULL,
    -- The admission session that bought it: that fan may read the order back.
    session          TEXT        NOT NULL,
    email            TEXT        NOT NULL,
    total_cents      BIGINT      NOT NULL,
    status           TEXT        NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    created_at       TIMESTAMPTZ NOT NULL,
    cancelled_at     TIMESTAMPTZ,
    CONSTRAINT orders_idempotency_key UNIQUE (event_id, idempotency_key)
);
CREATE INDEX orders_by_event ON orders (event_id, id);

-- One row per sold item. The partial unique index is invariant 1's safety net: even two
-- actors for one event (split brain) cannot both confirm an item. Cancelling an order marks
-- its items cancelled, which takes them out of the index so they can be sold again.
CREATE TABLE order_items (
    order_id     UUID    NOT NULL REFERENCES orders (id),
    event_id     UUID    NOT NULL,
    item_id      TEXT    NOT NULL,
    tier         TEXT    NOT NULL,
    price_cents  BIGINT  NOT NULL,
    cancelled    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (order_id, item_id)
);
CREATE UNIQUE INDEX order_items_sold_once ON order_items (event_id, item_id) WHERE NOT cancelled;
