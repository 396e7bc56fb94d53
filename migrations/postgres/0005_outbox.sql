-- The mail outbox: one row per mail an order sends (its confirmation, its cancellation, a
-- resend). The committer writes a confirmation's row in the same statement as the order, and
-- a cancel in the same transaction as the status change, so a confirmed order always has its
-- mail waiting and a failed commit leaves none. A sender on every node claims due rows (with
-- FOR UPDATE SKIP LOCKED, so two nodes never take one row) and records what happened. Rows
-- are never deleted: a mail that cannot be delivered is parked, with its last error, for the
-- organizer to see and retry. See docs/architecture.md, "Mail: the outbox".
--
-- No foreign keys: a row is only ever written from its order's row (in the order's own insert
-- statement, or INSERT … SELECT FROM orders), and orders and events are never deleted, so a key
-- would guard nothing; it would cost the order commit, the hot path, two referential checks
-- per order (measured: about a quarter of the group commit's throughput).
CREATE TABLE outbox (
    -- UUID v7: time-ordered, so it doubles as the listing cursor; also the mail's Message-ID.
    -- A confirmation's row takes its order's id (one per order, and nothing more for the
    -- commit to generate or join); a cancellation's or a resend's gets a fresh one.
    id               UUID        PRIMARY KEY,
    event_id         UUID        NOT NULL,
    order_id         UUID        NOT NULL,
    kind             TEXT        NOT NULL CHECK (kind IN ('order_confirmed', 'order_cancelled')),
    -- The address as the buyer typed it; checked again when the mail is built (an address the
    -- mail library refuses parks the row rather than reaching a header).
    recipient        TEXT        NOT NULL,
    state            TEXT        NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'sent', 'parked')),
    attempts         INTEGER     NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    -- A claim's lease: a node sending the row holds it until then, so a crashed node's claim
    -- runs out and another node sends the row.
    claimed_until    TIMESTAMPTZ,
    sent_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL
);
-- The senders' question: which pending rows are due, oldest first (also the organizer's
-- pending list and count).
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
-- The parked gauge and the organizer's parked list and count, without reading sent rows. No
-- index per event: the order commit would pay a third index write per order for it, and
-- the lists that matter (pending, parked) are small.
CREATE INDEX outbox_parked ON outbox (id) WHERE state = 'parked';
