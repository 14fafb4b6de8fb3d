-- Times are Unix microseconds (UTC); 0 means none. The same layout as the
-- SQLite schema, so that both stores share their queries.
CREATE TABLE registrations (
	username   TEXT PRIMARY KEY,
	phone      TEXT NOT NULL,                -- E.164
	pin_hash   TEXT NOT NULL DEFAULT '',     -- argon2id PHC string, '' if none
	answers    TEXT NOT NULL DEFAULT '{}',   -- JSON: question id -> argon2id PHC string
	language   TEXT NOT NULL DEFAULT '',
	created_us BIGINT NOT NULL,
	updated_us BIGINT NOT NULL
);

CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,             -- 128 random bits, base64url
	kind       TEXT NOT NULL CHECK (kind IN ('register', 'reset', 'unlock')),
	username   TEXT NOT NULL,
	binding    TEXT NOT NULL,                -- SHA-256 of the browser session cookie
	created_us BIGINT NOT NULL,
	expires_us BIGINT NOT NULL,
	state      TEXT NOT NULL CHECK (state IN ('active', 'completed', 'failed', 'expired')),
	updated_us BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_us);

CREATE TABLE session_gates (
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	gate       INTEGER NOT NULL,
	result     TEXT NOT NULL,
	at_us      BIGINT NOT NULL,
	PRIMARY KEY (session_id, gate)
);

-- One fixed window per key: the current one.
CREATE TABLE rate_limits (
	key        TEXT PRIMARY KEY,
	start_us   BIGINT NOT NULL,
	window_us  BIGINT NOT NULL,
	count      INTEGER NOT NULL
);

CREATE TABLE lockouts (
	username        TEXT PRIMARY KEY,
	failures        INTEGER NOT NULL DEFAULT 0,
	locked_until_us BIGINT NOT NULL DEFAULT 0,
	lockouts        INTEGER NOT NULL DEFAULT 0,
	permanent       INTEGER NOT NULL DEFAULT 0  -- 0 or 1
);

-- Append-only: the store has no statement that updates or deletes here.
CREATE TABLE audit (
	seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time_us     BIGINT NOT NULL,
	event       TEXT NOT NULL,
	username    TEXT NOT NULL,
	client_addr TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	call_id     TEXT NOT NULL,
	reset_id    TEXT NOT NULL
);
CREATE INDEX audit_user ON audit (username);
CREATE INDEX audit_reset ON audit (reset_id);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
