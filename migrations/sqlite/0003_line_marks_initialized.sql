-- Set once the line store first received a block of join numbers (see the Postgres
-- migration of the same name). A migration of its own: databases that ran 0002 keep it.
ALTER TABLE line_marks ADD COLUMN initialized INTEGER NOT NULL DEFAULT 0;
