-- What the portal keeps about a session in progress (JSON, no secrets in
-- clear), with a version for compare-and-set updates from several nodes.
ALTER TABLE sessions ADD COLUMN data TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
