-- Times are Unix microseconds (UTC); 0 means none.
CREATE TABLE registrations (
	username   TEXT PRIMARY KEY,
	phone      TEXT NOT NULL,                -- E.164
	pin_hash   TEXT NOT NULL DEFAULT '',     -- argon2id PHC string, '' if none
	answers    TEXT NOT NULL DEFAULT '{}',   -- JSON: question id -> argon2id PHC string
	language   TEXT NOT NULL DEFAULT '',
	created_us INTEGER NOT NULL,
	updated_us INTEGER NOT NULL
);

CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,             -- 128 random bits, base64url
	kind       TEXT NOT NULL CHECK (kind IN ('register', 'reset', 'unlock')),
	username   TEXT NOT NULL,
	binding    TEXT NOT NULL,                -- SHA-256 of the browser session cookie
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL,
	state      TEXT NOT NULL CHECK (state IN ('active', 'completed', 'failed', 'expired')),
	updated_us INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_us);

CREATE TABLE session_gates (
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	gate       INTEGER NOT NULL,
	result     TEXT NOT NULL,
	at_us      INTEGER NOT NULL,
	PRIMARY KEY (session_id, gate)
);

-- One fixed window per key: the current one.
CREATE TABLE rate_limits (
	key        TEXT PRIMARY KEY,
	start_us   INTEGER NOT NULL,
	window_us  INTEGER NOT NULL,
	count      INTEGER NOT NULL
);

CREATE TABLE lockouts (
	username        TEXT PRIMARY KEY,
	failures        INTEGER NOT NULL DEFAULT 0,
	locked_until_us INTEGER NOT NULL DEFAULT 0,
	lockouts        INTEGER NOT NULL DEFAULT 0,
	permanent       INTEGER NOT NULL DEFAULT 0  -- 0 or 1
);

-- Append-only: the store has no statement that updates or deletes here.
CREATE TABLE audit (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	time_us     INTEGER NOT NULL,
	event       TEXT NOT NULL,
	username    TEXT NOT NULL,
	client_addr TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	call_id     TEXT NOT NULL,
	reset_id    TEXT NOT NULL
);
CREATE INDEX audit_user ON audit (username);
CREATE INDEX audit_reset ON audit (reset_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
