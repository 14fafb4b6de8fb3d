// Package store keeps the portal's persistent state: registrations, reset
// sessions, rate-limit counters, reset-process lockouts and the append-only
// audit log, and carries call progress to the browser's event stream.
//
// Two implementations share one [DB] type: embedded SQLite ([OpenSQLite],
// pure Go, the default for one node) and PostgreSQL ([OpenPostgres], for
// several nodes behind a load balancer, with progress over LISTEN/NOTIFY).
// Both run their embedded migrations when opened, and both pass the
// conformance suite in package storetest.
//
// Methods that depend on the time take it as an argument (now), so that tests
// inject a clock; the store never reads the time itself except to default a
// zero audit time. Times are kept to the microsecond and returned in UTC.
// Usernames are compared exactly: the caller canonicalises them.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"
)

// Errors callers branch on. They are returned wrapped; test with errors.Is.
var (
	// ErrNotFound: no such registration or reset session.
	ErrNotFound = errors.New("store: not found")
	// ErrExpired: the reset session has passed its expiry time.
	ErrExpired = errors.New("store: session expired")
	// ErrClosed: the reset session was already completed or failed; it is
	// single-use and refuses further use.
	ErrClosed = errors.New("store: session already used")
	// ErrInvalid: an argument the store refuses (empty key, unknown kind...).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrConflict: SaveData was given a version that is no longer the
	// session's: someone else changed it first. Read it again and retry.
	ErrConflict = errors.New("store: session changed concurrently")
)

// DefaultSessionTTL is how long a reset session lives when NewSession.TTL is zero.
const DefaultSessionTTL = 10 * time.Minute

// Store is the portal's persistent state. Implementations are safe for
// concurrent use, by several goroutines and (PostgreSQL) several nodes.
type Store interface {
	// PutRegistration creates or replaces the registration of r.Username.
	// Created is set on first insert and kept afterwards; Updated is now.
	PutRegistration(ctx context.Context, r Registration, now time.Time) error
	// Registration returns the registration of username, or ErrNotFound.
	Registration(ctx context.Context, username string) (Registration, error)
	// DeleteRegistration removes the registration of username, or returns ErrNotFound.
	DeleteRegistration(ctx context.Context, username string) error

	// NewSession starts a reset session with a fresh random ID, in state
	// StateActive, expiring at now+TTL.
	NewSession(ctx context.Context, n NewSession, now time.Time) (Session, error)
	// Session returns the session with its gate results; State reads
	// StateExpired once now is past Expires. ErrNotFound if there is none.
	Session(ctx context.Context, id string, now time.Time) (Session, error)
	// RecordGate records the result of gate number gate (replacing an
	// earlier one) in an active session; ErrExpired or ErrClosed otherwise.
	RecordGate(ctx context.Context, id string, gate int, result string, now time.Time) error
	// Complete moves an active session to StateCompleted. It succeeds once
	// only, atomically, even under concurrency; later calls get ErrClosed,
	// and an expired session ErrExpired.
	Complete(ctx context.Context, id string, now time.Time) error
	// Fail moves an active session to StateFailed, with the same rules as Complete.
	Fail(ctx context.Context, id string, now time.Time) error
	// SaveData replaces the data of an active session if its version is
	// still version, and returns the new version; ErrConflict if it is
	// not, ErrExpired or ErrClosed if the session is no longer active.
	SaveData(ctx context.Context, id string, version int64, data []byte, now time.Time) (int64, error)

	// Hit counts one event for key in the fixed window of length window that
	// contains now, and returns the count in that window including this one.
	// It is atomic under concurrency.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)

	// RecordFailure counts a failed reset attempt by username and locks the
	// reset process when the policy says so. While the user is locked out,
	// failures are not counted. It returns the state after the failure,
	// with Started set if this very failure locked the process.
	RecordFailure(ctx context.Context, username string, p LockoutPolicy, now time.Time) (Lockout, error)
	// Lock locks the reset process of username at once (a reported fraud):
	// one more lockout, counted towards the permanent one (Started set).
	Lock(ctx context.Context, username string, p LockoutPolicy, now time.Time) (Lockout, error)
	// RecordSuccess forgets the failures counted since the last lockout
	// (lockouts themselves stay counted).
	RecordSuccess(ctx context.Context, username string) error
	// Lockout returns the lockout state of username (the zero state, with
	// Username set, when nothing is recorded).
	Lockout(ctx context.Context, username string) (Lockout, error)
	// ClearLockout forgets everything about username's failures and
	// lockouts, permanent ones included (an operator's action).
	ClearLockout(ctx context.Context, username string) error

	// Append adds a record to the audit log. There is no way to change or
	// remove a record.
	Append(ctx context.Context, r Record) error
	// List returns the audit records that match f, oldest first.
	List(ctx context.Context, f Filter) ([]Record, error)

	// Publish sends a progress event to every subscriber of sessionID, on
	// this node and (PostgreSQL) on every other node. Events are small (the
	// PostgreSQL notification limit is about 8000 bytes, after base64).
	Publish(ctx context.Context, sessionID string, event []byte) error
	// Subscribe returns the events published for sessionID from now on, in
	// order, until cancel is called or ctx ends; then the channel is closed.
	// A subscriber that does not keep up loses events rather than stall
	// the publisher.
	Subscribe(ctx context.Context, sessionID string) (events <-chan []byte, cancel func(), err error)

	// Beat records that node (a portal process) is alive at now: its
	// heartbeat, which tells every node whether the owner of a call still runs.
	Beat(ctx context.Context, node string, now time.Time) error
	// NodeSeen returns the time of node's last Beat, or ErrNotFound when
	// none is kept (never seen, or swept).
	NodeSeen(ctx context.Context, node string) (time.Time, error)

	// Sweep deletes sessions that expired before now, rate-limit windows
	// that ended before now, and the heartbeats of nodes not seen for
	// NodeRetention. It never touches the audit log.
	Sweep(ctx context.Context, now time.Time) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}

// Registration is what a user registered: the number the verification call
// goes to, and the optional second factors, as hashes.
type Registration struct {
	Username string
	// Phone is the number in E.164 form (+447946000958).
	Phone string
	// PINHash is the argon2id PHC string of the PIN; empty when none.
	PINHash string
	// Answers maps a security question ID to the argon2id PHC string of
	// the normalised answer.
	Answers map[string]string
	// Language is the language of the calls and pages (BCP 47 tag); empty for the default.
	Language string
	// Created and Updated are set by the store.
	Created, Updated time.Time
}

// Kind is what a reset session is for.
type Kind string

// The kinds of session.
const (
	KindRegister Kind = "register"
	KindReset    Kind = "reset"
	KindUnlock   Kind = "unlock"
)

func (k Kind) valid() bool { return k == KindRegister || k == KindReset || k == KindUnlock }

// State is where a reset session is: a closed set.
type State string

// The states of a session. Only an active session can change.
const (
	StateActive    State = "active"
	StateCompleted State = "completed"
	StateFailed    State = "failed"
	StateExpired   State = "expired"
)

// NewSession holds what starts a reset session.
type NewSession struct {
	Kind     Kind
	Username string
	// Binding ties the session to the browser that started it: see BindingOf.
	Binding string
	// TTL is how long the session lives; zero means DefaultSessionTTL.
	TTL time.Duration
}

// Session is a reset, unlock or registration process in progress.
type Session struct {
	// ID is random (128 bits), URL-safe.
	ID       string
	Kind     Kind
	Username string
	Binding  string
	Created  time.Time
	Expires  time.Time
	State    State
	// Gates maps a gate's index in the workflow to its result.
	Gates map[int]string
	// Data is what the portal keeps about the session in progress (opaque
	// to the store; empty at first), and Version counts its changes (0 at
	// first): see SaveData.
	Data    []byte
	Version int64
}

// BoundTo reports, in constant time, whether the session belongs to the
// browser session whose cookie value is cookie.
func (s Session) BoundTo(cookie string) bool {
	b := BindingOf(cookie)
	return subtle.ConstantTimeCompare([]byte(b), []byte(s.Binding)) == 1
}

// BindingOf is the value stored to bind a session to a browser session
// cookie: its SHA-256, in hex, so that the cookie itself is never stored.
func BindingOf(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// newID returns 128 random bits, base64url without padding (22 characters).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// LockoutPolicy says when the reset process locks itself for a user. The
// zero value is the default: 3 failures lock for 15 minutes, and the 3rd
// lockout is permanent until an operator clears it.
type LockoutPolicy struct {
	// MaxFailures is how many failures lock the process (default 3).
	MaxFailures int
	// Duration is how long a lockout lasts (default 15 minutes).
	Duration time.Duration
	// MaxLockouts is the lockout that becomes permanent (default 3).
	MaxLockouts int
}

func (p LockoutPolicy) withDefaults() LockoutPolicy {
	if p.MaxFailures <= 0 {
		p.MaxFailures = 3
	}
	if p.Duration <= 0 {
		p.Duration = 15 * time.Minute
	}
	if p.MaxLockouts <= 0 {
		p.MaxLockouts = 3
	}
	return p
}

// Lockout is the reset-process lockout state of one user.
type Lockout struct {
	Username string
	// Failures counts the failures since the last lockout.
	Failures int
	// LockedUntil is the end of the current or last lockout (zero if none).
	LockedUntil time.Time
	// Lockouts counts the lockouts so far.
	Lockouts int
	// Permanent is set by the last lockout the policy allows; only an
	// operator clears it.
	Permanent bool
	// Started is set only by RecordFailure and Lock: this call started a
	// lockout. Of concurrent calls, on any number of nodes, exactly one
	// sees it for each lockout (they run one at a time on the user's row).
	Started bool
}

// Locked reports whether the reset process is locked for the user at now.
func (l Lockout) Locked(now time.Time) bool {
	return l.Permanent || now.Before(l.LockedUntil)
}

// failure applies one failure to l under p.
func (l Lockout) failure(p LockoutPolicy, now time.Time) Lockout {
	if l.Locked(now) {
		return l
	}
	l.Failures++
	if l.Failures >= p.MaxFailures {
		l = l.lock(p, now)
	}
	return l
}

// lock applies one lockout to l under p.
func (l Lockout) lock(p LockoutPolicy, now time.Time) Lockout {
	l.Failures = 0
	l.Lockouts++
	l.LockedUntil = now.Add(p.Duration).UTC().Truncate(time.Microsecond)
	if l.Lockouts >= p.MaxLockouts {
		l.Permanent = true
	}
	return l
}

// Record is one audit log entry. It never holds a secret: no password, PIN,
// code or answer, and phone numbers only masked.
type Record struct {
	// Seq is the record's position in the log, set by the store.
	Seq int64
	// Time is when it happened; zero means the time of Append.
	Time time.Time
	// Event is what happened (reset.start, gate.phone, lockout...).
	Event string
	// User is the username as entered.
	User string
	// ClientAddr is the client's address.
	ClientAddr string
	// Outcome is how it ended (ok, refused, failed, fraud...).
	Outcome string
	// CallID is the verification call's ID, if a call was made.
	CallID string
	// ResetID is the reset session's ID, if any.
	ResetID string
}

// Filter selects audit records; zero fields match everything.
type Filter struct {
	User    string
	Event   string
	ResetID string
	// Since and Until bound Time: Since <= Time < Until.
	Since, Until time.Time
	// Limit caps the number of records (the oldest first); 0 means no cap.
	Limit int
}
