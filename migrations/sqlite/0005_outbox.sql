-- The mail outbox (see the Postgres migration of the same name for why each part exists, and
-- why it has no foreign keys).
-- Times are RFC 3339 text in UTC, as everywhere in this schema, which compares in time order.
CREATE TABLE outbox (
    id               TEXT    PRIMARY KEY,
    event_id         TEXT    NOT NULL,
    order_id         TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('order_confirmed', 'order_cancelled')),
    recipient        TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'sent', 'parked')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  TEXT    NOT NULL,
    claimed_until    TEXT,
    sent_at          TEXT,
    created_at       TEXT    NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_parked ON outbox (id) WHERE state = 'parked';
