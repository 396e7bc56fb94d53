-- Set once the line store first received a block of join numbers: from then on a line store
-- without a ceiling has lost its data (and must skip every reserved number), rather than not
-- yet having received its first block from a concurrent reservation. A migration of its own,
-- not an edit of 0002: databases that already ran 0002 keep its checksum.
ALTER TABLE line_marks ADD COLUMN initialized BOOLEAN NOT NULL DEFAULT FALSE;
