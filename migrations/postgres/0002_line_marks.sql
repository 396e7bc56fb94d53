-- Durable marks of each event's line, so Redis losing its data never hands out a join number
-- twice nor re-draws the pre-queue: join numbers are reserved here in blocks (seq_ceiling) before
-- Redis may issue them, the serving counter is saved as it advances, and the opening draw
-- (pre-queue size and seed) is kept for the fairness endpoint.
CREATE TABLE line_marks (
    event_id       UUID    PRIMARY KEY REFERENCES events (id),
    seq_ceiling    BIGINT  NOT NULL DEFAULT 0,
    serving        BIGINT  NOT NULL DEFAULT 0,
    prequeue_size  BIGINT,
    seed           TEXT,
    opened_at_ms   BIGINT
);
