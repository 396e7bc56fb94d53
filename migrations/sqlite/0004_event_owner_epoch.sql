-- The fencing token of an event's ownership (see the Postgres migration of the same name).
ALTER TABLE events ADD COLUMN owner_epoch INTEGER NOT NULL DEFAULT 0;
