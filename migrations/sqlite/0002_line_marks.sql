-- See migrations/postgres/0002_line_marks.sql.
CREATE TABLE line_marks (
    event_id       TEXT    PRIMARY KEY REFERENCES events (id),
    seq_ceiling    INTEGER NOT NULL DEFAULT 0,
    serving        INTEGER NOT NULL DEFAULT 0,
    prequeue_size  INTEGER,
    seed           TEXT,
    opened_at_ms   INTEGER
);
