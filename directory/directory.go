// Package directory reads and changes the accounts sspr resets: Active
// Directory and OpenLDAP over LDAP (github.com/go-ldap/ldap/v3; only this
// package imports it), and an embedded directory for the demo and for
// tests of other packages. All implement Directory.
package directory

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Directory is what sspr needs of a user directory.
type Directory interface {
	// Find returns the one user named username, or ErrNotFound or
	// ErrAmbiguous.
	Find(ctx context.Context, username string) (*User, error)
	// Authenticate checks username's password by binding as the user. A
	// refusal is an *AuthError saying why (for logs and the portal's
	// decisions; the portal shows one generic message).
	Authenticate(ctx context.Context, username, password string) (*User, error)
	// SetPassword sets username's password as the service account, with
	// the directory's policy applied as for a user's own change. A policy
	// refusal is a *PolicyError carrying the reason in plain words.
	SetPassword(ctx context.Context, username, password string) error
	// Unlock clears username's lockout. It reports whether the account
	// was locked; unlocking an unlocked account succeeds.
	Unlock(ctx context.Context, username string) (wasLocked bool, err error)
	// Check reports whether the directory is reachable and the service
	// account works, for readiness probes and `sspr directory status`.
	Check(ctx context.Context) error
}

// User is an account as the directory describes it.
type User struct {
	// DN is the entry's distinguished name (for the embedded directory,
	// "uid=NAME").
	DN string
	// Username is the name the user types.
	Username string
	// DisplayName and Mail are shown to operators, never to the public.
	DisplayName, Mail string
	// Phones are the phone numbers the directory holds, for optional
	// pre-fill at registration.
	Phones []string
	// Language is the user's preferred language, if the directory has one.
	Language string
	// Locked reports whether the account is locked out now, and
	// LockedUntil when the lockout ends (zero: until an operator unlocks).
	Locked      bool
	LockedUntil time.Time
}

// Errors callers branch on.
var (
	// ErrNotFound: no entry matches the username.
	ErrNotFound = errors.New("directory: user not found")
	// ErrAmbiguous: more than one entry matches the username.
	ErrAmbiguous = errors.New("directory: more than one user matches")
	// ErrUnavailable: no server could be reached or answered in time.
	ErrUnavailable = errors.New("directory: unavailable")
	// ErrInsecure: a password would have crossed a connection without TLS.
	ErrInsecure = errors.New("directory: refusing to send a password without TLS")
)

// AuthReason is why a bind was refused.
type AuthReason string

// The reasons a bind is refused.
const (
	BadCredentials AuthReason = "bad-credentials"
	LockedOut      AuthReason = "locked-out"
	Disabled       AuthReason = "disabled"
	Expired        AuthReason = "expired"
	MustChange     AuthReason = "must-change"
	// AuthUnknown: refused for a reason the directory did not say.
	AuthUnknown AuthReason = "unknown"
)

// AuthError is a refused bind.
type AuthError struct {
	Reason AuthReason
	// Err is the directory's error (an *ldap.Error for LDAP).
	Err error
}

func (e *AuthError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("directory: authentication refused (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("directory: authentication refused (%s)", e.Reason)
}

func (e *AuthError) Unwrap() error { return e.Err }

// PolicyReason is why the directory refused a new password.
type PolicyReason string

// The reasons a password is refused, each with words a person reads.
const (
	TooShort    PolicyReason = "too-short"
	TooRecent   PolicyReason = "too-recent"
	InHistory   PolicyReason = "in-history"
	NotComplex  PolicyReason = "not-complex"
	PolicyOther PolicyReason = "unknown"
)

// Text returns the reason in plain words, for the person choosing the
// password.
func (r PolicyReason) Text() string {
	switch r {
	case TooShort:
		return "The password is too short."
	case TooRecent:
		return "The password was changed too recently to change it again yet."
	case InHistory:
		return "The password was used before. Choose one you have not used."
	case NotComplex:
		return "The password is not complex enough: mix upper and lower case letters, digits and symbols, and avoid your name."
	}
	return "The directory refused the password."
}

// PolicyError is a password refused by the directory's policy.
type PolicyError struct {
	Reason PolicyReason
	// Err is the directory's error (an *ldap.Error for LDAP).
	Err error
}

func (e *PolicyError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("directory: password refused (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("directory: password refused (%s)", e.Reason)
}

func (e *PolicyError) Unwrap() error { return e.Err }
