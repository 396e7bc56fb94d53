-- The fencing token of an event's ownership: a node that takes over an event (its lease in
-- Redis expired or was free) increments it, and every group commit checks it in the same
-- statement, so an owner that lost its lease (paused, partitioned, slow) can never commit
-- again. See docs/architecture.md, "One owner per event".
ALTER TABLE events ADD COLUMN owner_epoch BIGINT NOT NULL DEFAULT 0;
