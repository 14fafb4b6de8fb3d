package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed migrations
var migrations embed.FS

// dialect is what differs between the SQL databases. The queries are
// written with ? placeholders and rebound.
type dialect struct {
	name string
	// numbered: placeholders are $1, $2... rather than ?.
	numbered bool
	// forUpdate locks the rows a SELECT reads until the transaction ends.
	forUpdate string
	// lockMigrations serialises concurrent openers; "" if not needed.
	lockMigrations string
	// writableCTE: an UPDATE may run inside WITH, so that a statement can
	// check and change one table and write another in one round trip.
	writableCTE bool
}

var (
	sqliteDialect   = dialect{name: "sqlite"}
	postgresDialect = dialect{
		name:           "postgres",
		numbered:       true,
		forUpdate:      " FOR UPDATE",
		lockMigrations: "SELECT pg_advisory_xact_lock(7365707072)",
		writableCTE:    true,
	}
)

// upsertGate ends the INSERT of a gate's result: a gate recorded again
// keeps its latest result.
const upsertGate = ` ON CONFLICT (session_id, gate) DO UPDATE SET result = excluded.result, at_us = excluded.at_us`

// rowsAffected is res.RowsAffected, for a call's (res, err).
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// q rebinds the ? placeholders of query for the dialect.
func (d dialect) q(query string) string {
	if !d.numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DB is a Store on an SQL database: SQLite or PostgreSQL.
type DB struct {
	db *sql.DB
	d  dialect
	// hub delivers progress events to this node's subscribers.
	hub *hub
	// publish sends an event to every node's hub (PostgreSQL: NOTIFY);
	// nil means this node's hub only.
	publish func(ctx context.Context, sessionID string, event []byte) error
	// stop ends background work (the PostgreSQL listener) and waits for it.
	stop      func()
	closeOnce sync.Once
	closeErr  error

	// m times the operations once Instrument has been called.
	m atomic.Pointer[metrics]
}

var _ Store = (*DB)(nil)

// migrate runs the dialect's embedded migrations that have not run yet,
// each in its own transaction.
func (s *DB) migrate(ctx context.Context) error {
	dir := "migrations/" + s.d.name
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_us BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return fmt.Errorf("store: migration %s: name is not NNNN_name.sql", e.Name())
		}
		body, err := migrations.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", e.Name(), err)
		}
		if err := s.tx(ctx, func(tx *sql.Tx) error {
			if s.d.lockMigrations != "" {
				if _, err := tx.ExecContext(ctx, s.d.lockMigrations); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRowContext(ctx, s.d.q(`SELECT count(*) FROM schema_migrations WHERE version = ?`), version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)`), version, time.Now().UnixMicro())
			return err
		}); err != nil {
			return fmt.Errorf("store: migration %s: %w", e.Name(), err)
		}
	}
	return nil
}

// tx runs fn in a transaction, committing if it returns nil.
func (s *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Close stops the store's background work and closes the database.
func (s *DB) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		s.hub.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

func us(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromUS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// PutRegistration implements Store.
func (s *DB) PutRegistration(ctx context.Context, r Registration, now time.Time) error {
	defer s.observe("put_registration", time.Now())
	if r.Username == "" || r.Phone == "" {
		return fmt.Errorf("%w: registration needs a username and a phone number", ErrInvalid)
	}
	answers := r.Answers
	if answers == nil {
		answers = map[string]string{}
	}
	js, err := json.Marshal(answers)
	if err != nil {
		return fmt.Errorf("store: put registration: %w", err)
	}
	_, err = s.db.ExecContext(ctx, s.d.q(`INSERT INTO registrations
		(username, phone, pin_hash, answers, language, created_us, updated_us)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET phone = excluded.phone, pin_hash = excluded.pin_hash,
		answers = excluded.answers, language = excluded.language, updated_us = excluded.updated_us`),
		r.Username, r.Phone, r.PINHash, string(js), r.Language, us(now), us(now))
	if err != nil {
		return fmt.Errorf("store: put registration: %w", err)
	}
	return nil
}

// Registration implements Store.
func (s *DB) Registration(ctx context.Context, username string) (Registration, error) {
	defer s.observe("registration", time.Now())
	r := Registration{Username: username}
	var js string
	var created, updated int64
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT phone, pin_hash, answers, language, created_us, updated_us
		FROM registrations WHERE username = ?`), username).
		Scan(&r.Phone, &r.PINHash, &js, &r.Language, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Registration{}, fmt.Errorf("registration: %w", ErrNotFound)
	}
	if err != nil {
		return Registration{}, fmt.Errorf("store: registration: %w", err)
	}
	if err := json.Unmarshal([]byte(js), &r.Answers); err != nil {
		return Registration{}, fmt.Errorf("store: registration answers: %w", err)
	}
	r.Created, r.Updated = fromUS(created), fromUS(updated)
	return r, nil
}

// DeleteRegistration implements Store.
func (s *DB) DeleteRegistration(ctx context.Context, username string) error {
	defer s.observe("delete_registration", time.Now())
	res, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM registrations WHERE username = ?`), username)
	if err != nil {
		return fmt.Errorf("store: delete registration: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("delete registration: %w", ErrNotFound)
	}
	return nil
}

// NewSession implements Store.
func (s *DB) NewSession(ctx context.Context, n NewSession, now time.Time) (Session, error) {
	defer s.observe("new_session", time.Now())
	if !n.Kind.valid() {
		return Session{}, fmt.Errorf("%w: session kind %q", ErrInvalid, n.Kind)
	}
	if n.TTL < 0 {
		return Session{}, fmt.Errorf("%w: negative session TTL", ErrInvalid)
	}
	if n.TTL == 0 {
		n.TTL = DefaultSessionTTL
	}
	now = now.UTC().Truncate(time.Microsecond)
	ses := Session{
		ID: newID(), Kind: n.Kind, Username: n.Username, Binding: n.Binding,
		Created: now, Expires: now.Add(n.TTL), State: StateActive, Gates: map[int]string{},
	}
	_, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO sessions
		(id, kind, username, binding, created_us, expires_us, state, updated_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		ses.ID, string(ses.Kind), ses.Username, ses.Binding, us(ses.Created), us(ses.Expires), string(StateActive), us(now))
	if err != nil {
		return Session{}, fmt.Errorf("store: new session: %w", err)
	}
	return ses, nil
}

// Session implements Store. One statement reads the session with its
// gates (one round trip, one snapshot): the portal reads a session on
// nearly every step, so this is the store's hottest path.
func (s *DB) Session(ctx context.Context, id string, now time.Time) (Session, error) {
	defer s.observe("session", time.Now())
	ses := Session{ID: id, Gates: map[int]string{}}
	err := func() error {
		rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT s.kind, s.username, s.binding, s.created_us, s.expires_us, s.state, s.data, s.version,
			g.gate, g.result
			FROM sessions s LEFT JOIN session_gates g ON g.session_id = s.id WHERE s.id = ?`), id)
		if err != nil {
			return err
		}
		defer rows.Close()
		found := false
		for rows.Next() {
			var kind, state, data string
			var created, expires int64
			var gate sql.NullInt64
			var result sql.NullString
			if err := rows.Scan(&kind, &ses.Username, &ses.Binding, &created, &expires, &state, &data, &ses.Version, &gate, &result); err != nil {
				return err
			}
			if !found {
				found = true
				ses.Kind, ses.State = Kind(kind), State(state)
				if data != "" {
					ses.Data = []byte(data)
				}
				ses.Created, ses.Expires = fromUS(created), fromUS(expires)
			}
			if gate.Valid {
				ses.Gates[int(gate.Int64)] = result.String
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if !found {
			return sql.ErrNoRows
		}
		return nil
	}()
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: session: %w", err)
	}
	if ses.State == StateActive && !now.Before(ses.Expires) {
		ses.State = StateExpired
	}
	return ses, nil
}

// whyNot says why a statement guarded by "active and unexpired at now"
// changed no row of session id: the session's own reason, or, if it is
// usable after all, other (it changed in between).
func (s *DB) whyNot(ctx context.Context, id string, now time.Time, other error) error {
	var state string
	var expires int64
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT state, expires_us FROM sessions WHERE id = ?`), id).Scan(&state, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case State(state) == StateExpired || (State(state) == StateActive && us(now) >= expires):
		return ErrExpired
	case State(state) != StateActive:
		return ErrClosed
	}
	return other
}

// RecordGate implements Store. The UPDATE that checks the session is
// usable also locks its row (a concurrent Fail waits) and marks it
// updated; the gate is written only if it found the session.
func (s *DB) RecordGate(ctx context.Context, id string, gate int, result string, now time.Time) error {
	defer s.observe("record_gate", time.Now())
	at := us(now)
	var n int64
	var err error
	if s.d.writableCTE {
		// One statement, one round trip.
		n, err = rowsAffected(s.db.ExecContext(ctx, `WITH live AS (
				UPDATE sessions SET updated_us = $1 WHERE id = $2 AND state = 'active' AND expires_us > $1 RETURNING id)
			INSERT INTO session_gates (session_id, gate, result, at_us) SELECT id, $3, $4, $1 FROM live`+upsertGate,
			at, id, gate, result))
	} else {
		err = s.tx(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = rowsAffected(tx.ExecContext(ctx, s.d.q(`UPDATE sessions SET updated_us = ? WHERE id = ? AND state = 'active' AND expires_us > ?`), at, id, at))
			if err != nil || n != 1 {
				return err
			}
			_, err = tx.ExecContext(ctx, s.d.q(`INSERT INTO session_gates (session_id, gate, result, at_us) VALUES (?, ?, ?, ?)`+upsertGate), id, gate, result, at)
			return err
		})
	}
	if err == nil && n != 1 {
		err = s.whyNot(ctx, id, now, ErrClosed)
	}
	return wrapSession("record gate", err)
}

// SaveData implements Store: one statement, which changes the row only
// if the session is usable and still at version.
func (s *DB) SaveData(ctx context.Context, id string, version int64, data []byte, now time.Time) (int64, error) {
	defer s.observe("save_data", time.Now())
	n, err := rowsAffected(s.db.ExecContext(ctx, s.d.q(`UPDATE sessions SET data = ?, version = version + 1, updated_us = ?
		WHERE id = ? AND version = ? AND state = 'active' AND expires_us > ?`), string(data), us(now), id, version, us(now)))
	if err == nil && n != 1 {
		err = s.whyNot(ctx, id, now, ErrConflict)
	}
	if errors.Is(err, ErrConflict) {
		return 0, fmt.Errorf("save session data: %w", err)
	}
	if err != nil {
		return 0, wrapSession("save session data", err)
	}
	return version + 1, nil
}

// Complete implements Store.
func (s *DB) Complete(ctx context.Context, id string, now time.Time) error {
	defer s.observe("complete", time.Now())
	return s.finish(ctx, id, StateCompleted, now)
}

// Fail implements Store.
func (s *DB) Fail(ctx context.Context, id string, now time.Time) error {
	defer s.observe("fail", time.Now())
	return s.finish(ctx, id, StateFailed, now)
}

// finish moves an active, unexpired session to state in one statement, so
// that of concurrent callers exactly one succeeds.
func (s *DB) finish(ctx context.Context, id string, state State, now time.Time) error {
	n, err := rowsAffected(s.db.ExecContext(ctx, s.d.q(`UPDATE sessions SET state = ?, updated_us = ?
		WHERE id = ? AND state = 'active' AND expires_us > ?`), string(state), us(now), id, us(now)))
	if err != nil {
		return fmt.Errorf("store: %s session: %w", state, err)
	}
	if n == 1 {
		return nil
	}
	// Say why not; usable after all means someone else finished it in
	// between.
	return wrapSession(string(state)+" session", s.whyNot(ctx, id, now, ErrClosed))
}

func wrapSession(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrExpired), errors.Is(err, ErrClosed):
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// Hit implements Store.
func (s *DB) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	defer s.observe("hit", time.Now())
	if key == "" || window < time.Microsecond {
		return 0, fmt.Errorf("%w: rate limit needs a key and a window of at least 1µs", ErrInvalid)
	}
	w := window.Microseconds()
	start := us(now) - mod(us(now), w)
	var count int
	// In the SET clause, start_us and count are the row's old values.
	err := s.db.QueryRowContext(ctx, s.d.q(`INSERT INTO rate_limits (key, start_us, window_us, count) VALUES (?, ?, ?, 1)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN rate_limits.start_us = excluded.start_us AND rate_limits.window_us = excluded.window_us
				THEN rate_limits.count + 1 ELSE 1 END,
			start_us = excluded.start_us, window_us = excluded.window_us
		RETURNING count`), key, start, w).Scan(&count)
	if err != nil {
		return 0, fmt.Errorf("store: rate limit: %w", err)
	}
	return count, nil
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// lockout reads username's lockout state in tx, locking the row.
func (s *DB) lockout(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, username, suffix string) (Lockout, error) {
	l := Lockout{Username: username}
	var until int64
	var permanent int
	err := q.QueryRowContext(ctx, s.d.q(`SELECT failures, locked_until_us, lockouts, permanent FROM lockouts WHERE username = ?`+suffix), username).
		Scan(&l.Failures, &until, &l.Lockouts, &permanent)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return Lockout{}, err
	}
	l.LockedUntil, l.Permanent = fromUS(until), permanent != 0
	return l, nil
}

// changeLockout applies fn to username's lockout state atomically.
func (s *DB) changeLockout(ctx context.Context, op, username string, fn func(Lockout) Lockout) (Lockout, error) {
	if username == "" {
		return Lockout{}, fmt.Errorf("%w: lockout needs a username", ErrInvalid)
	}
	var l Lockout
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Make the row exist, so that FOR UPDATE has something to lock.
		if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO lockouts (username) VALUES (?) ON CONFLICT (username) DO NOTHING`), username); err != nil {
			return err
		}
		old, err := s.lockout(ctx, tx, username, s.d.forUpdate)
		if err != nil {
			return err
		}
		l = fn(old)
		l.Started = l.Lockouts > old.Lockouts
		permanent := 0
		if l.Permanent {
			permanent = 1
		}
		_, err = tx.ExecContext(ctx, s.d.q(`UPDATE lockouts SET failures = ?, locked_until_us = ?, lockouts = ?, permanent = ?
			WHERE username = ?`), l.Failures, us(l.LockedUntil), l.Lockouts, permanent, username)
		return err
	})
	if err != nil {
		return Lockout{}, fmt.Errorf("store: %s: %w", op, err)
	}
	return l, nil
}

// RecordFailure implements Store.
func (s *DB) RecordFailure(ctx context.Context, username string, p LockoutPolicy, now time.Time) (Lockout, error) {
	defer s.observe("record_failure", time.Now())
	p = p.withDefaults()
	return s.changeLockout(ctx, "record failure", username, func(l Lockout) Lockout { return l.failure(p, now) })
}

// Lock implements Store.
func (s *DB) Lock(ctx context.Context, username string, p LockoutPolicy, now time.Time) (Lockout, error) {
	defer s.observe("lock", time.Now())
	p = p.withDefaults()
	return s.changeLockout(ctx, "lock", username, func(l Lockout) Lockout { return l.lock(p, now) })
}

// RecordSuccess implements Store.
func (s *DB) RecordSuccess(ctx context.Context, username string) error {
	defer s.observe("record_success", time.Now())
	if _, err := s.db.ExecContext(ctx, s.d.q(`UPDATE lockouts SET failures = 0 WHERE username = ?`), username); err != nil {
		return fmt.Errorf("store: record success: %w", err)
	}
	return nil
}

// Lockout implements Store.
func (s *DB) Lockout(ctx context.Context, username string) (Lockout, error) {
	defer s.observe("lockout", time.Now())
	l, err := s.lockout(ctx, s.db, username, "")
	if err != nil {
		return Lockout{}, fmt.Errorf("store: lockout: %w", err)
	}
	return l, nil
}

// ClearLockout implements Store.
func (s *DB) ClearLockout(ctx context.Context, username string) error {
	defer s.observe("clear_lockout", time.Now())
	if _, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM lockouts WHERE username = ?`), username); err != nil {
		return fmt.Errorf("store: clear lockout: %w", err)
	}
	return nil
}

// Append implements Store.
func (s *DB) Append(ctx context.Context, r Record) error {
	defer s.observe("append", time.Now())
	if r.Event == "" {
		return fmt.Errorf("%w: audit record needs an event", ErrInvalid)
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO audit (time_us, event, username, client_addr, outcome, call_id, reset_id)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), us(r.Time), r.Event, r.User, r.ClientAddr, r.Outcome, r.CallID, r.ResetID)
	if err != nil {
		return fmt.Errorf("store: audit append: %w", err)
	}
	return nil
}

// List implements Store.
func (s *DB) List(ctx context.Context, f Filter) ([]Record, error) {
	defer s.observe("list", time.Now())
	var where []string
	var args []any
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if f.User != "" {
		add("username = ?", f.User)
	}
	if f.Event != "" {
		add("event = ?", f.Event)
	}
	if f.ResetID != "" {
		add("reset_id = ?", f.ResetID)
	}
	if !f.Since.IsZero() {
		add("time_us >= ?", us(f.Since))
	}
	if !f.Until.IsZero() {
		add("time_us < ?", us(f.Until))
	}
	query := `SELECT seq, time_us, event, username, client_addr, outcome, call_id, reset_id FROM audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq"
	if f.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit list: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var t int64
		if err := rows.Scan(&r.Seq, &t, &r.Event, &r.User, &r.ClientAddr, &r.Outcome, &r.CallID, &r.ResetID); err != nil {
			return nil, fmt.Errorf("store: audit list: %w", err)
		}
		r.Time = fromUS(t)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit list: %w", err)
	}
	return out, nil
}

// Sweep implements Store.
func (s *DB) Sweep(ctx context.Context, now time.Time) error {
	defer s.observe("sweep", time.Now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM session_gates WHERE session_id IN (SELECT id FROM sessions WHERE expires_us <= ?)`), us(now)); err != nil {
			return fmt.Errorf("store: sweep: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM sessions WHERE expires_us <= ?`), us(now)); err != nil {
			return fmt.Errorf("store: sweep: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM rate_limits WHERE start_us + window_us <= ?`), us(now)); err != nil {
			return fmt.Errorf("store: sweep: %w", err)
		}
		return s.sweepNodes(ctx, tx, now)
	})
}

// Publish implements Store.
func (s *DB) Publish(ctx context.Context, sessionID string, event []byte) error {
	defer s.observe("publish", time.Now())
	if sessionID == "" {
		return fmt.Errorf("%w: publish needs a session ID", ErrInvalid)
	}
	if s.publish != nil {
		return s.publish(ctx, sessionID, event)
	}
	s.hub.deliver(sessionID, event)
	return nil
}

// Subscribe implements Store.
func (s *DB) Subscribe(ctx context.Context, sessionID string) (<-chan []byte, func(), error) {
	if sessionID == "" {
		return nil, nil, fmt.Errorf("%w: subscribe needs a session ID", ErrInvalid)
	}
	return s.hub.subscribe(ctx, sessionID)
}
