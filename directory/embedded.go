package directory

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/argon2"
)

var _ Directory = (*Embedded)(nil)

// Embedded is a directory kept in one YAML or JSON file, for the demo and
// for tests of other packages. Passwords are stored as argon2id hashes in
// the PHC string format; lockout, password history and the time of the
// last change are kept with each user, and a simple policy applies to
// SetPassword. It is safe for concurrent use, and every change is written
// back to the file atomically (a temporary file renamed over it). One
// process at a time may hold the file: changes made to it by others while
// it is open are overwritten.
type Embedded struct {
	path   string
	json   bool
	policy EmbeddedPolicy // in force: Config.Policy or the file's
	argon  Argon2Params
	now    func() time.Time
	log    *slog.Logger
	// hashing bounds how many argon2 computations (each taking
	// Argon2Params.Memory) run at once.
	hashing chan struct{}

	dummyOnce sync.Once
	dummy     string // hash checked for unknown users, so they take as long

	// setting serializes SetPassword, whose checks run without mu.
	setting sync.Mutex

	mu         sync.Mutex
	filePolicy EmbeddedPolicy // written back as read
	users      []embeddedRecord
	index      map[string]int // folded username → users index
}

// EmbeddedConfig configures OpenEmbedded and WriteEmbedded. The zero
// value is the production default.
type EmbeddedConfig struct {
	// Policy, when set, replaces the policy the file gives (the file keeps
	// its own). WriteEmbedded writes it into the new file. Nil: the file's
	// policy, whose absent fields take DefaultEmbeddedPolicy's values.
	Policy *EmbeddedPolicy
	// Argon2 is the cost of the hashes this directory makes. Existing
	// hashes are checked with the cost they were made with.
	Argon2 Argon2Params
	// Now is the clock for lockouts and password ages; nil: time.Now.
	Now func() time.Time
	// Logger records lockouts, unlocks and password changes (never a
	// password); nil: discarded.
	Logger *slog.Logger
}

// EmbeddedPolicy is the embedded directory's password and lockout policy.
// Its fields mean what they say; DefaultEmbeddedPolicy gives the defaults.
type EmbeddedPolicy struct {
	// MinLength is the fewest characters a new password may have; at
	// least 1 (default 8).
	MinLength int
	// History is how many of the latest passwords, the current one
	// included, a new one may not repeat; 0 allows any (default 3).
	History int
	// LockoutThreshold is how many consecutive failed authentications
	// lock the account; 0 never locks (default 5).
	LockoutThreshold int
	// LockoutDuration is how long a lockout lasts; 0 locks until an
	// operator unlocks (default 15 minutes).
	LockoutDuration time.Duration
	// MinAge is how long a password must be kept before it can be changed
	// again (default 0: no minimum).
	MinAge time.Duration
	// Complexity requires characters of three of the four classes (upper
	// case, lower case, digits, others) and no username in the password
	// (default false).
	Complexity bool
}

// DefaultEmbeddedPolicy returns the policy of a file that states none.
func DefaultEmbeddedPolicy() EmbeddedPolicy {
	return EmbeddedPolicy{
		MinLength:        8,
		History:          3,
		LockoutThreshold: 5,
		LockoutDuration:  15 * time.Minute,
	}
}

// validate checks the policy; an error names the field, in the file
// and in Go.
func (p EmbeddedPolicy) validate() (fileField, goField string, err error) {
	switch {
	case p.MinLength < 1:
		return "min_length", "MinLength", errors.New("must be at least 1")
	case p.History < 0:
		return "history", "History", errors.New("must not be negative")
	case p.LockoutThreshold < 0:
		return "lockout_threshold", "LockoutThreshold", errors.New("must not be negative")
	case p.LockoutDuration < 0:
		return "lockout_duration", "LockoutDuration", errors.New("must not be negative")
	case p.MinAge < 0:
		return "min_age", "MinAge", errors.New("must not be negative")
	}
	return "", "", nil
}

// Argon2Params is the cost of an argon2id hash. Zero fields take the
// production defaults (64 MiB, 1 pass, 2 lanes); tests lower them.
type Argon2Params struct {
	// Memory in KiB; 0: 65536 (64 MiB).
	Memory uint32
	// Time is the number of passes; 0: 1.
	Time uint32
	// Threads is the number of lanes; 0: 2.
	Threads uint8
}

// Limits on the hashes a file may hold, so that a file cannot make one
// check take unbounded memory or time.
const (
	argonMaxMemory  = 1 << 20 // KiB: 1 GiB
	argonMaxTime    = 64
	argonSaltLen    = 16
	argonKeyLen     = 32
	argonMinSaltLen = 8
	argonMinKeyLen  = 16
	argonMaxKeyLen  = 64
)

func (p Argon2Params) withDefaults() Argon2Params {
	if p.Memory == 0 {
		p.Memory = 64 * 1024
	}
	if p.Time == 0 {
		p.Time = 1
	}
	if p.Threads == 0 {
		p.Threads = 2
	}
	return p
}

func (p Argon2Params) validate() error {
	switch {
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("Argon2.Memory: %d KiB is less than 8 KiB per thread", p.Memory)
	case p.Memory > argonMaxMemory:
		return fmt.Errorf("Argon2.Memory: %d KiB is more than %d", p.Memory, argonMaxMemory)
	case p.Time > argonMaxTime:
		return fmt.Errorf("Argon2.Time: %d passes is more than %d", p.Time, argonMaxTime)
	}
	return nil
}

// EmbeddedUser is a user for WriteEmbedded to create.
type EmbeddedUser struct {
	Username, DisplayName, Mail string
	Phones                      []string
	Language                    string
	// Password in clear; WriteEmbedded stores only its hash.
	Password string
}

// LogValue leaves the password out of logs.
func (u EmbeddedUser) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", u.Username), slog.String("password", "REDACTED"))
}

// embeddedRecord is a user as held in memory. Its slices are never
// changed in place: a change builds new ones.
type embeddedRecord struct {
	username, displayName, mail string
	phones                      []string
	language                    string
	hash                        string   // current password, PHC string
	history                     []string // previous passwords, latest first
	changed                     time.Time
	failed                      int
	locked                      bool
	lockedUntil                 time.Time // zero: until unlocked
}

// lockedAt reports whether the record is locked out at now.
func (r *embeddedRecord) lockedAt(now time.Time) bool {
	return r.locked && (r.lockedUntil.IsZero() || now.Before(r.lockedUntil))
}

func (r *embeddedRecord) user(now time.Time) *User {
	u := &User{
		DN:          "uid=" + escapeDNValue(r.username),
		Username:    r.username,
		DisplayName: r.displayName,
		Mail:        r.mail,
		Phones:      append([]string(nil), r.phones...),
		Language:    r.language,
	}
	if r.lockedAt(now) {
		u.Locked, u.LockedUntil = true, r.lockedUntil
	}
	return u
}

// OpenEmbedded opens the embedded directory kept in the file at path
// (YAML, or JSON when the name ends in .json). Errors in the file name
// the line and the field.
func OpenEmbedded(path string, cfg EmbeddedConfig) (*Embedded, error) {
	e, err := newEmbedded(path, cfg)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("directory: embedded: %w", err)
	}
	filePolicy, users, err := parseEmbedded(data)
	if err != nil {
		return nil, fmt.Errorf("directory: embedded file %s: %w", path, err)
	}
	e.filePolicy = filePolicy
	if cfg.Policy == nil {
		e.policy = filePolicy
	}
	e.users = users
	e.index = make(map[string]int, len(users))
	for i, r := range users {
		e.index[foldUsername(r.username)] = i
	}
	return e, nil
}

func newEmbedded(path string, cfg EmbeddedConfig) (*Embedded, error) {
	e := &Embedded{
		path:    path,
		json:    strings.EqualFold(filepath.Ext(path), ".json"),
		argon:   cfg.Argon2.withDefaults(),
		now:     cfg.Now,
		log:     cfg.Logger,
		hashing: make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
	}
	if err := e.argon.validate(); err != nil {
		return nil, fmt.Errorf("directory: embedded config: %w", err)
	}
	if cfg.Policy != nil {
		if _, field, err := cfg.Policy.validate(); err != nil {
			return nil, fmt.Errorf("directory: embedded config: Policy.%s: %w", field, err)
		}
		e.policy = *cfg.Policy
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e, nil
}

// WriteEmbedded creates the file at path holding users, their passwords
// hashed, and cfg.Policy (or the default policy). It refuses to replace a
// file that exists (the error wraps fs.ErrExist). The passwords are not
// checked against the policy: they are the seed, and have never been
// changed.
func WriteEmbedded(path string, users []EmbeddedUser, cfg EmbeddedConfig) error {
	e, err := newEmbedded(path, cfg)
	if err != nil {
		return err
	}
	e.filePolicy = DefaultEmbeddedPolicy()
	if cfg.Policy != nil {
		e.filePolicy = *cfg.Policy
	}
	e.index = make(map[string]int, len(users))
	for i, u := range users {
		if err := checkUsername(u.Username); err != nil {
			return fmt.Errorf("directory: embedded: users[%d].username: %w", i, err)
		}
		if _, dup := e.index[foldUsername(u.Username)]; dup {
			return fmt.Errorf("directory: embedded: users[%d].username: %q appears twice", i, u.Username)
		}
		if u.Password == "" {
			return fmt.Errorf("directory: embedded: users[%d].password: empty", i)
		}
		h, err := e.hash(context.Background(), u.Password)
		if err != nil {
			return err
		}
		e.index[foldUsername(u.Username)] = i
		e.users = append(e.users, embeddedRecord{
			username:    u.Username,
			displayName: u.DisplayName,
			mail:        u.Mail,
			phones:      append([]string(nil), u.Phones...),
			language:    u.Language,
			hash:        h,
		})
	}
	data, err := e.marshal()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, false)
}

// Find returns the user named username (compared without regard to
// case), or ErrNotFound.
func (e *Embedded) Find(ctx context.Context, username string) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.index[foldUsername(username)]
	if !ok {
		return nil, ErrNotFound
	}
	return e.users[i].user(e.now()), nil
}

// errEmptyPassword is why an empty password is refused: an LDAP bind
// with one is an anonymous bind that would "succeed".
var errEmptyPassword = errors.New("directory: empty password")

// errBadPassword is the embedded directory's bad-credentials error.
var errBadPassword = errors.New("directory: embedded: password does not match")

// errLocked is the embedded directory's locked-out error.
var errLocked = errors.New("directory: embedded: account locked")

// Authenticate checks username's password. Each failure counts; at the
// policy's threshold the account locks, and while it is locked every
// attempt is refused as LockedOut. A success resets the count.
func (e *Embedded) Authenticate(ctx context.Context, username, password string) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if password == "" {
		return nil, &AuthError{Reason: BadCredentials, Err: errEmptyPassword}
	}
	for attempt := 0; ; attempt++ {
		e.mu.Lock()
		i, ok := e.index[foldUsername(username)]
		if !ok {
			e.mu.Unlock()
			// Take as long as for a user that exists.
			if _, err := e.verify(ctx, e.dummyHash(), password); err != nil {
				return nil, err
			}
			return nil, ErrNotFound
		}
		r := e.users[i]
		e.mu.Unlock()
		if r.lockedAt(e.now()) {
			return nil, &AuthError{Reason: LockedOut, Err: errLocked}
		}

		match, err := e.verify(ctx, r.hash, password)
		if err != nil {
			return nil, err
		}

		e.mu.Lock()
		i, ok = e.index[foldUsername(username)]
		if !ok || e.users[i].hash != r.hash {
			// Removed or changed while we hashed: look again.
			e.mu.Unlock()
			if attempt < 3 {
				continue
			}
			return nil, &AuthError{Reason: AuthUnknown, Err: errors.New("directory: embedded: password changed during authentication")}
		}
		u, err := e.recordAttempt(i, match)
		e.mu.Unlock()
		return u, err
	}
}

// recordAttempt counts one authentication of users[i] that matched or
// not. It is called with e.mu held.
func (e *Embedded) recordAttempt(i int, match bool) (*User, error) {
	r := e.users[i]
	now := e.now()
	if r.lockedAt(now) {
		return nil, &AuthError{Reason: LockedOut, Err: errLocked}
	}
	dirty := false
	if r.locked { // the lockout has expired
		r.locked, r.lockedUntil, r.failed = false, time.Time{}, 0
		dirty = true
	}
	if match {
		if r.failed != 0 {
			r.failed = 0
			dirty = true
		}
		if dirty {
			// A failure to record the reset count does not make the
			// password wrong: log it and let the user in.
			if err := e.commit(i, r, true); err != nil {
				e.log.Error("embedded directory: cannot save state", "err", err)
			}
		}
		return r.user(now), nil
	}
	r.failed++
	if e.policy.LockoutThreshold > 0 && r.failed >= e.policy.LockoutThreshold {
		r.locked = true
		if e.policy.LockoutDuration > 0 {
			r.lockedUntil = now.Add(e.policy.LockoutDuration)
		}
		e.log.Info("embedded directory: account locked out", "user", r.username, "failures", r.failed)
	}
	// The failure counts in memory even if it cannot be saved.
	if err := e.commit(i, r, true); err != nil {
		return nil, &AuthError{Reason: BadCredentials, Err: errors.Join(errBadPassword, err)}
	}
	return nil, &AuthError{Reason: BadCredentials, Err: errBadPassword}
}

// SetPassword sets username's password after checking it against the
// policy: length, complexity, minimum age and history, in that order.
// It leaves a lockout as it is.
func (e *Embedded) SetPassword(ctx context.Context, username, password string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.setting.Lock()
	defer e.setting.Unlock()
	e.mu.Lock()
	i, ok := e.index[foldUsername(username)]
	if !ok {
		e.mu.Unlock()
		return ErrNotFound
	}
	r := e.users[i]
	p := e.policy
	e.mu.Unlock()

	if err := checkPassword(p, r.username, password); err != nil {
		return err
	}
	if p.MinAge > 0 && !r.changed.IsZero() && e.now().Sub(r.changed) < p.MinAge {
		return &PolicyError{Reason: TooRecent, Err: fmt.Errorf("directory: embedded: changed less than %v ago", p.MinAge)}
	}
	if p.History > 0 {
		recent := append([]string{r.hash}, r.history[:min(len(r.history), p.History-1)]...)
		for _, h := range recent {
			match, err := e.verify(ctx, h, password)
			if err != nil {
				return err
			}
			if match {
				return &PolicyError{Reason: InHistory, Err: fmt.Errorf("directory: embedded: one of the last %d passwords", p.History)}
			}
		}
	}
	h, err := e.hash(ctx, password)
	if err != nil {
		return err
	}

	// Only SetPassword changes a password, and it holds e.setting.
	e.mu.Lock()
	r = e.users[i]
	if p.History > 1 {
		r.history = append([]string{r.hash}, r.history[:min(len(r.history), p.History-2)]...)
	} else {
		r.history = nil
	}
	r.hash = h
	r.changed = e.now()
	err = e.commit(i, r, false)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	e.log.Info("embedded directory: password set", "user", r.username)
	return nil
}

// checkPassword applies the length and complexity rules.
func checkPassword(p EmbeddedPolicy, username, password string) error {
	if n := utf8.RuneCountInString(password); n < p.MinLength {
		return &PolicyError{Reason: TooShort, Err: fmt.Errorf("directory: embedded: %d characters, at least %d needed", n, p.MinLength)}
	}
	if !p.Complexity {
		return nil
	}
	var upper, lower, digit, other int
	for _, c := range password {
		switch {
		case unicode.IsUpper(c):
			upper = 1
		case unicode.IsLower(c):
			lower = 1
		case unicode.IsDigit(c):
			digit = 1
		default:
			other = 1
		}
	}
	if upper+lower+digit+other < 3 {
		return &PolicyError{Reason: NotComplex, Err: errors.New("directory: embedded: fewer than 3 of 4 character classes")}
	}
	if len(username) >= 3 && strings.Contains(strings.ToLower(password), strings.ToLower(username)) {
		return &PolicyError{Reason: NotComplex, Err: errors.New("directory: embedded: contains the username")}
	}
	return nil
}

// Unlock clears username's lockout and failure count, and reports
// whether the account was locked.
func (e *Embedded) Unlock(ctx context.Context, username string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.index[foldUsername(username)]
	if !ok {
		return false, ErrNotFound
	}
	r := e.users[i]
	was := r.lockedAt(e.now())
	if !r.locked && r.failed == 0 {
		return false, nil
	}
	r.locked, r.lockedUntil, r.failed = false, time.Time{}, 0
	if err := e.commit(i, r, false); err != nil {
		return false, err
	}
	if was {
		e.log.Info("embedded directory: account unlocked", "user", r.username)
	}
	return was, nil
}

// Check reports whether the directory's file can be read.
func (e *Embedded) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(e.path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer f.Close()
	if _, err := f.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrUnavailable, e.path, err)
	}
	return nil
}

// commit saves the directory with users[i] replaced by r, then keeps r.
// When the file cannot be written it returns the error, and keeps r
// anyway only if keepOnError. It is called with e.mu held.
func (e *Embedded) commit(i int, r embeddedRecord, keepOnError bool) error {
	old := e.users[i]
	e.users[i] = r
	data, err := e.marshal()
	if err == nil {
		err = writeFileAtomic(e.path, data, true)
	}
	if err != nil && !keepOnError {
		e.users[i] = old
	}
	return err
}

// --- hashing ---

// hash returns password's argon2id hash in the PHC string format.
func (e *Embedded) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("directory: embedded: salt: %w", err)
	}
	if err := e.acquire(ctx); err != nil {
		return "", err
	}
	defer e.release()
	p := e.argon
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argonKeyLen)
	return formatPHC(p, salt, key), nil
}

// verify reports whether password matches the PHC string h, comparing
// in constant time.
func (e *Embedded) verify(ctx context.Context, h, password string) (bool, error) {
	ph, err := parsePHC(h)
	if err != nil {
		return false, fmt.Errorf("directory: embedded: stored hash: %w", err)
	}
	if err := e.acquire(ctx); err != nil {
		return false, err
	}
	defer e.release()
	key := argon2.IDKey([]byte(password), ph.salt, ph.params.Time, ph.params.Memory, ph.params.Threads, uint32(len(ph.key)))
	return subtle.ConstantTimeCompare(key, ph.key) == 1, nil
}

func (e *Embedded) acquire(ctx context.Context) error {
	select {
	case e.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Embedded) release() { <-e.hashing }

// dummyHash is a hash of a random password, checked for unknown users.
func (e *Embedded) dummyHash() string {
	e.dummyOnce.Do(func() {
		salt, key := make([]byte, argonSaltLen), make([]byte, argonKeyLen)
		_, _ = rand.Read(salt)
		_, _ = rand.Read(key)
		e.dummy = formatPHC(e.argon, salt, key)
	})
	return e.dummy
}

type phc struct {
	params    Argon2Params
	salt, key []byte
}

func formatPHC(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$SALT$HASH, refusing costs
// beyond the limits.
func parsePHC(s string) (phc, error) {
	const want = "want $argon2id$v=19$m=...,t=...,p=...$salt$hash"
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return phc{}, fmt.Errorf("not a PHC string (%s)", want)
	}
	if f[1] != "argon2id" {
		return phc{}, fmt.Errorf("algorithm %q is not argon2id", f[1])
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, fmt.Errorf("version %q is not v=%d", f[2], argon2.Version)
	}
	var h phc
	params := strings.Split(f[3], ",")
	if len(params) != 3 {
		return phc{}, fmt.Errorf("parameters %q: %s", f[3], want)
	}
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(params[i], name+"=")
		bits := 32
		if name == "p" {
			bits = 8
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if !ok || err != nil || n == 0 {
			return phc{}, fmt.Errorf("parameter %q: %s", params[i], want)
		}
		switch name {
		case "m":
			h.params.Memory = uint32(n)
		case "t":
			h.params.Time = uint32(n)
		case "p":
			h.params.Threads = uint8(n)
		}
	}
	if err := h.params.validate(); err != nil {
		return phc{}, fmt.Errorf("parameters %q: %w", f[3], err)
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(f[4]); err != nil || len(h.salt) < argonMinSaltLen {
		return phc{}, fmt.Errorf("salt: not %d or more bytes of unpadded base64", argonMinSaltLen)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(f[5]); err != nil || len(h.key) < argonMinKeyLen || len(h.key) > argonMaxKeyLen {
		return phc{}, fmt.Errorf("hash: not %d to %d bytes of unpadded base64", argonMinKeyLen, argonMaxKeyLen)
	}
	return h, nil
}

// --- the file ---

// embeddedFile is the file's layout. All values are strings, numbers
// and booleans so that YAML and JSON read and write it alike.
type embeddedFile struct {
	Policy filePolicy `yaml:"policy" json:"policy"`
	Users  []fileUser `yaml:"users" json:"users"`
}

// filePolicy is EmbeddedPolicy in the file; an absent field takes the
// default.
type filePolicy struct {
	MinLength        *int    `yaml:"min_length,omitempty" json:"min_length,omitempty"`
	History          *int    `yaml:"history,omitempty" json:"history,omitempty"`
	LockoutThreshold *int    `yaml:"lockout_threshold,omitempty" json:"lockout_threshold,omitempty"`
	LockoutDuration  *string `yaml:"lockout_duration,omitempty" json:"lockout_duration,omitempty"`
	MinAge           *string `yaml:"min_age,omitempty" json:"min_age,omitempty"`
	Complexity       *bool   `yaml:"complexity,omitempty" json:"complexity,omitempty"`
}

type fileUser struct {
	Username    string   `yaml:"username" json:"username"`
	DisplayName string   `yaml:"display_name,omitempty" json:"display_name,omitempty"`
	Mail        string   `yaml:"mail,omitempty" json:"mail,omitempty"`
	Phones      []string `yaml:"phones,omitempty" json:"phones,omitempty"`
	Language    string   `yaml:"language,omitempty" json:"language,omitempty"`
	// PasswordHash is argon2id in the PHC string format.
	PasswordHash string `yaml:"password_hash" json:"password_hash"`
	// PasswordHistory holds the previous passwords' hashes, latest first.
	PasswordHistory []string `yaml:"password_history,omitempty" json:"password_history,omitempty"`
	// PasswordChanged is when SetPassword last set the password (RFC 3339).
	PasswordChanged string `yaml:"password_changed,omitempty" json:"password_changed,omitempty"`
	FailedLogins    int    `yaml:"failed_logins,omitempty" json:"failed_logins,omitempty"`
	Locked          bool   `yaml:"locked,omitempty" json:"locked,omitempty"`
	// LockedUntil is when the lockout ends (RFC 3339); absent: when an
	// operator unlocks.
	LockedUntil string `yaml:"locked_until,omitempty" json:"locked_until,omitempty"`
}

const embeddedHeader = "# sspr embedded directory. sspr rewrites this file on every change;\n# edit it only while sspr is stopped.\n"

// parseEmbedded reads a file's policy and users. Its errors name the
// line and the field.
func parseEmbedded(data []byte) (EmbeddedPolicy, []embeddedRecord, error) {
	var (
		f    embeddedFile
		root yaml.Node
	)
	if err := yaml.Unmarshal(data, &root); err != nil {
		return EmbeddedPolicy{}, nil, err
	}
	if len(root.Content) == 0 {
		return EmbeddedPolicy{}, nil, errors.New("empty file: want a policy and a list of users")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return EmbeddedPolicy{}, nil, err
	}
	doc := root.Content[0]

	p, field, err := f.Policy.resolve()
	if err != nil {
		return EmbeddedPolicy{}, nil, fmt.Errorf("line %d: policy.%s: %w", lineOf(doc, "policy", field), field, err)
	}

	usersNode := child(doc, "users")
	users := make([]embeddedRecord, 0, len(f.Users))
	seen := make(map[string]int, len(f.Users))
	for i, fu := range f.Users {
		var node *yaml.Node
		if usersNode != nil && i < len(usersNode.Content) {
			node = usersNode.Content[i]
		}
		r, field, entry, err := fu.record()
		if err == nil {
			if j, dup := seen[foldUsername(r.username)]; dup {
				field, err = "username", fmt.Errorf("%q is also users[%d]", r.username, j)
			}
		}
		if err != nil {
			line := 0
			if node != nil {
				line = node.Line
				if k := child(node, field); k != nil {
					line = k.Line
					if entry >= 0 && entry < len(k.Content) {
						line = k.Content[entry].Line
					}
				}
			}
			return EmbeddedPolicy{}, nil, fmt.Errorf("line %d: users[%d].%s: %w", line, i, field, err)
		}
		seen[foldUsername(r.username)] = i
		users = append(users, r)
	}
	return p, users, nil
}

// resolve returns the policy with defaults for absent fields, or the
// field in error and why.
func (fp filePolicy) resolve() (EmbeddedPolicy, string, error) {
	p := DefaultEmbeddedPolicy()
	if fp.MinLength != nil {
		p.MinLength = *fp.MinLength
	}
	if fp.History != nil {
		p.History = *fp.History
	}
	if fp.LockoutThreshold != nil {
		p.LockoutThreshold = *fp.LockoutThreshold
	}
	if fp.Complexity != nil {
		p.Complexity = *fp.Complexity
	}
	var err error
	if fp.LockoutDuration != nil {
		if p.LockoutDuration, err = parseDuration(*fp.LockoutDuration); err != nil {
			return p, "lockout_duration", err
		}
	}
	if fp.MinAge != nil {
		if p.MinAge, err = parseDuration(*fp.MinAge); err != nil {
			return p, "min_age", err
		}
	}
	field, _, err := p.validate()
	return p, field, err
}

func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 15m or 1h30m", s)
	}
	return d, nil
}

func unparsePolicy(p EmbeddedPolicy) filePolicy {
	return filePolicy{
		MinLength:        &p.MinLength,
		History:          &p.History,
		LockoutThreshold: &p.LockoutThreshold,
		LockoutDuration:  new(p.LockoutDuration.String()),
		MinAge:           new(p.MinAge.String()),
		Complexity:       &p.Complexity,
	}
}

// record checks a user from the file; an error comes with the field's
// name in the file, and the index of the entry in error in a list (-1:
// not a list).
func (fu fileUser) record() (r embeddedRecord, field string, entry int, err error) {
	r = embeddedRecord{
		username:    fu.Username,
		displayName: fu.DisplayName,
		mail:        fu.Mail,
		phones:      fu.Phones,
		language:    fu.Language,
		hash:        fu.PasswordHash,
		history:     fu.PasswordHistory,
		failed:      fu.FailedLogins,
		locked:      fu.Locked,
	}
	if err := checkUsername(fu.Username); err != nil {
		return r, "username", -1, err
	}
	if fu.PasswordHash == "" {
		return r, "password_hash", -1, errors.New("missing")
	}
	if _, err := parsePHC(fu.PasswordHash); err != nil {
		return r, "password_hash", -1, err
	}
	for j, h := range fu.PasswordHistory {
		if _, err := parsePHC(h); err != nil {
			return r, "password_history", j, fmt.Errorf("entry %d: %w", j, err)
		}
	}
	if fu.PasswordChanged != "" {
		if r.changed, err = time.Parse(time.RFC3339Nano, fu.PasswordChanged); err != nil {
			return r, "password_changed", -1, fmt.Errorf("%q is not an RFC 3339 time", fu.PasswordChanged)
		}
	}
	if fu.FailedLogins < 0 {
		return r, "failed_logins", -1, errors.New("must not be negative")
	}
	if fu.LockedUntil != "" {
		if !fu.Locked {
			return r, "locked_until", -1, errors.New("set but locked is not true")
		}
		if r.lockedUntil, err = time.Parse(time.RFC3339Nano, fu.LockedUntil); err != nil {
			return r, "locked_until", -1, fmt.Errorf("%q is not an RFC 3339 time", fu.LockedUntil)
		}
	}
	return r, "", -1, nil
}

// checkUsername refuses names no directory would hold.
func checkUsername(name string) error {
	switch {
	case name == "":
		return errors.New("missing")
	case !utf8.ValidString(name):
		return errors.New("not UTF-8")
	case strings.TrimSpace(name) != name:
		return errors.New("begins or ends with a space")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("holds a control character")
	}
	return nil
}

// marshal writes the directory in its file's format. It is called with
// e.mu held.
func (e *Embedded) marshal() ([]byte, error) {
	f := embeddedFile{Policy: unparsePolicy(e.filePolicy), Users: make([]fileUser, len(e.users))}
	for i, r := range e.users {
		fu := fileUser{
			Username:        r.username,
			DisplayName:     r.displayName,
			Mail:            r.mail,
			Phones:          r.phones,
			Language:        r.language,
			PasswordHash:    r.hash,
			PasswordHistory: r.history,
			FailedLogins:    r.failed,
			Locked:          r.locked,
		}
		if !r.changed.IsZero() {
			fu.PasswordChanged = r.changed.UTC().Format(time.RFC3339Nano)
		}
		if r.locked && !r.lockedUntil.IsZero() {
			fu.LockedUntil = r.lockedUntil.UTC().Format(time.RFC3339Nano)
		}
		f.Users[i] = fu
	}
	if e.json {
		data, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("directory: embedded: %w", err)
		}
		return append(data, '\n'), nil
	}
	var b bytes.Buffer
	b.WriteString(embeddedHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("directory: embedded: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("directory: embedded: %w", err)
	}
	return b.Bytes(), nil
}

// writeFileAtomic writes data to a temporary file beside path, flushes
// it, and renames it over path (replace) or links it to path, failing
// if path exists (!replace).
func writeFileAtomic(path string, data []byte, replace bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("directory: embedded: %w", err)
	}
	defer func() {
		if rmErr := os.Remove(tmp.Name()); err == nil && rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = fmt.Errorf("directory: embedded: %w", rmErr)
		}
	}()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("directory: embedded: writing %s: %w", tmp.Name(), err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("directory: embedded: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; not all systems can
		_ = d.Close()
	}
	return nil
}

// --- helpers ---

// foldUsername is the key usernames are compared by.
func foldUsername(s string) string { return strings.ToLower(s) }

// child returns the value of key in a mapping node, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineOf returns the line of the deepest of the keys present under n.
func lineOf(n *yaml.Node, keys ...string) int {
	line := n.Line
	for _, k := range keys {
		c := child(n, k)
		if c == nil {
			break
		}
		line, n = c.Line, c
	}
	return line
}

// escapeDNValue escapes an attribute value for a DN (RFC 4514).
func escapeDNValue(s string) string {
	var b strings.Builder
	for i, c := range s {
		switch {
		case strings.ContainsRune(`,+"\<>;=`, c),
			i == 0 && (c == '#' || c == ' '),
			i == len(s)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
