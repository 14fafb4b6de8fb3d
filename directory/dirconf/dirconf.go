// Package dirconf is the conformance suite every directory.Directory
// passes: the embedded directory, and the LDAP client against OpenLDAP
// and Samba Active Directory. It checks what sspr relies on, as a user
// and a helpdesk would see it: finding users (and nothing for injection
// attempts), authenticating, lockout and unlock, and password changes
// under the policy.
package dirconf

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/directory"
)

// Fixture is what the suite needs of the directory under test. The
// directory's policy must have no minimum password age, and lock an
// account after Lockout consecutive failures.
type Fixture struct {
	// User is an existing, unlocked user, and Password its password. The
	// suite changes it and sets it back.
	User, Password string
	// Other is another existing user, distinct from User.
	Other string
	// Lockout is how many consecutive failed authentications lock an
	// account (at least 1).
	Lockout int
	// MinLength is the shortest password the policy accepts (at least 2).
	MinLength int
	// History is how many recent passwords may not be reused (at least 1).
	History int
	// ResetIgnoresHistory says the directory does not apply its password
	// history to a service account's reset, so the suite does not ask it
	// to: Samba AD (4.17) neither implements nor advertises the
	// policy-hints control that makes Windows AD apply it.
	ResetIgnoresHistory bool
	// Reset, if set, restores the users to their initial state; it is
	// called after each subtest that changes them. Without it the suite
	// restores what it changed itself: unlocking, and setting the
	// password back after History+1 fresh ones.
	Reset func(t *testing.T)
	// Timeout bounds each directory call; 0: 30 seconds.
	Timeout time.Duration
}

func (f Fixture) check(t *testing.T) {
	t.Helper()
	switch {
	case f.User == "" || f.Password == "" || f.Other == "":
		t.Fatal("dirconf: Fixture needs User, Password and Other")
	case strings.EqualFold(f.User, f.Other):
		t.Fatal("dirconf: Fixture.Other must differ from Fixture.User")
	case f.Lockout < 1:
		t.Fatal("dirconf: Fixture.Lockout must be at least 1")
	case f.MinLength < 2:
		t.Fatal("dirconf: Fixture.MinLength must be at least 2")
	case f.History < 1:
		t.Fatal("dirconf: Fixture.History must be at least 1")
	}
}

// Run runs the suite against d. Subtests run in order, each leaving the
// users as it found them.
func Run(t *testing.T, d directory.Directory, f Fixture) {
	f.check(t)
	if f.Timeout == 0 {
		f.Timeout = 30 * time.Second
	}
	s := &suite{d: d, f: f}
	for _, tc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"Check", s.testCheck},
		{"Find", s.testFind},
		{"FindNothing", s.testFindNothing},
		{"Authenticate", s.testAuthenticate},
		{"AuthenticateBad", s.testAuthenticateBad},
		{"Lockout", s.testLockout},
		{"UnlockUnlocked", s.testUnlockUnlocked},
		{"SetPassword", s.testSetPassword},
		{"SetPasswordTooShort", s.testTooShort},
		{"SetPasswordInHistory", s.testInHistory},
		{"UnknownUser", s.testUnknownUser},
		{"CancelledContext", s.testCancelled},
	} {
		if tc.name == "SetPasswordInHistory" && f.ResetIgnoresHistory {
			continue
		}
		if !t.Run(tc.name, tc.run) && f.Reset != nil {
			// Each subtest restores what it changed, even when it
			// fails; Reset makes sure.
			f.Reset(t)
		}
	}
}

type suite struct {
	d directory.Directory
	f Fixture
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.f.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// authOK authenticates as username and fails the test unless it works.
func (s *suite) authOK(t *testing.T, username, password, why string) {
	t.Helper()
	u, err := s.d.Authenticate(s.ctx(t), username, password)
	if err != nil {
		t.Fatalf("Authenticate(%s) %s: %v, want success", username, why, err)
	}
	if u == nil || !strings.EqualFold(u.Username, username) {
		t.Fatalf("Authenticate(%s) %s: user %+v, want %s", username, why, u, username)
	}
}

// authRefused authenticates as username and fails the test unless it is
// refused with one of the reasons.
func (s *suite) authRefused(t *testing.T, username, password, why string, reasons ...directory.AuthReason) directory.AuthReason {
	t.Helper()
	u, err := s.d.Authenticate(s.ctx(t), username, password)
	var ae *directory.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("Authenticate(%s) %s: user %v, error %v; want *AuthError %v", username, why, u, err, reasons)
	}
	for _, r := range reasons {
		if ae.Reason == r {
			return r
		}
	}
	t.Fatalf("Authenticate(%s) %s: reason %s (%v), want one of %v", username, why, ae.Reason, err, reasons)
	return ""
}

// setOK sets username's password and fails the test unless it works.
func (s *suite) setOK(t *testing.T, username, password, why string) {
	t.Helper()
	if err := s.d.SetPassword(s.ctx(t), username, password); err != nil {
		t.Fatalf("SetPassword(%s) %s: %v", username, why, err)
	}
}

// setRefused sets username's password and fails the test unless the
// policy refuses it for reason.
func (s *suite) setRefused(t *testing.T, username, password, why string, reason directory.PolicyReason) {
	t.Helper()
	err := s.d.SetPassword(s.ctx(t), username, password)
	var pe *directory.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("SetPassword(%s) %s: %v, want *PolicyError %s", username, why, err, reason)
	}
	if pe.Reason != reason {
		t.Fatalf("SetPassword(%s) %s: reason %s (%v), want %s", username, why, pe.Reason, err, reason)
	}
	if pe.Reason.Text() == "" {
		t.Errorf("SetPassword(%s) %s: reason %s has no text", username, why, pe.Reason)
	}
}

// unlock unlocks username, failing the test on an error.
func (s *suite) unlock(t *testing.T, username string) bool {
	t.Helper()
	was, err := s.d.Unlock(s.ctx(t), username)
	if err != nil {
		t.Fatalf("Unlock(%s): %v", username, err)
	}
	return was
}

// forgetFailure unlocks username after one failure when that was enough
// to lock it (Lockout 1), so that the subtest can go on.
func (s *suite) forgetFailure(t *testing.T, username string) {
	t.Helper()
	if s.f.Lockout == 1 {
		s.unlock(t, username)
	}
}

// restoreLock unlocks User and Other when the subtest ends, so that its
// failures are forgotten.
func (s *suite) restoreLock(t *testing.T) {
	t.Cleanup(func() {
		if s.f.Reset != nil {
			s.f.Reset(t)
			return
		}
		for _, u := range []string{s.f.User, s.f.Other} {
			ctx, cancel := context.WithTimeout(context.Background(), s.f.Timeout)
			if _, err := s.d.Unlock(ctx, u); err != nil {
				t.Errorf("restoring: Unlock(%s): %v", u, err)
			}
			cancel()
		}
	})
}

// restorePassword sets User's password back to Fixture.Password when the
// subtest ends: through Reset, or after History+1 fresh passwords so that
// the original is out of the history.
func (s *suite) restorePassword(t *testing.T) {
	t.Cleanup(func() {
		if s.f.Reset != nil {
			s.f.Reset(t)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.f.History+3)*s.f.Timeout)
		defer cancel()
		for i := 0; i <= s.f.History; i++ {
			if err := s.d.SetPassword(ctx, s.f.User, fresh(s.f.MinLength)); err != nil {
				t.Errorf("restoring: SetPassword(%s) to a fresh password: %v", s.f.User, err)
				return
			}
		}
		if err := s.d.SetPassword(ctx, s.f.User, s.f.Password); err != nil {
			t.Errorf("restoring: SetPassword(%s) to Fixture.Password: %v", s.f.User, err)
			return
		}
		if _, err := s.d.Authenticate(ctx, s.f.User, s.f.Password); err != nil {
			t.Errorf("restoring: Authenticate(%s) with Fixture.Password: %v", s.f.User, err)
		}
	})
}

// fresh returns a new password that any common complexity rule accepts:
// upper and lower case, digits and a symbol, at least minLength long.
func fresh(minLength int) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	p := "Dc-" + hex.EncodeToString(b) + "!Q7"
	for len(p) < minLength {
		p += "x"
	}
	return p
}

// short returns a password one character shorter than minLength that is
// otherwise acceptable (three classes of characters), so that length is
// the only thing wrong with it.
func short(minLength int) string {
	const pattern = "Aa1!Bb2@Cc3#Dd4$Ee5%Ff6^Gg7&Hh8*"
	p := pattern
	for len(p) < minLength {
		p += pattern
	}
	return p[:minLength-1]
}

func (s *suite) testCheck(t *testing.T) {
	if err := s.d.Check(s.ctx(t)); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func (s *suite) testFind(t *testing.T) {
	for _, tc := range []struct {
		name, username, want string
	}{
		{"user", s.f.User, s.f.User},
		{"other", s.f.Other, s.f.Other},
		{"upper case", strings.ToUpper(s.f.User), s.f.User},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := s.d.Find(s.ctx(t), tc.username)
			if err != nil {
				t.Fatalf("Find(%q): %v", tc.username, err)
			}
			if !strings.EqualFold(u.Username, tc.want) {
				t.Errorf("Find(%q).Username = %q, want %q", tc.username, u.Username, tc.want)
			}
			if u.DN == "" {
				t.Errorf("Find(%q).DN is empty", tc.username)
			}
			if u.Locked || !u.LockedUntil.IsZero() {
				t.Errorf("Find(%q): Locked %v until %v, want unlocked", tc.username, u.Locked, u.LockedUntil)
			}
		})
	}
	t.Run("distinct", func(t *testing.T) {
		u, err := s.d.Find(s.ctx(t), s.f.User)
		if err != nil {
			t.Fatal(err)
		}
		o, err := s.d.Find(s.ctx(t), s.f.Other)
		if err != nil {
			t.Fatal(err)
		}
		if strings.EqualFold(u.DN, o.DN) {
			t.Errorf("Find(%s) and Find(%s) both give DN %q", s.f.User, s.f.Other, u.DN)
		}
	})
}

// testFindNothing tries names that a filter built without escaping
// would match (wildcards, filter syntax, NUL): each finds nothing.
func (s *suite) testFindNothing(t *testing.T) {
	for _, tc := range []struct{ name, username string }{
		{"no such user", "dirconf-no-such-user"},
		{"empty", ""},
		{"star", "*"},
		{"prefix star", s.f.User[:1] + "*"},
		{"a star", "a*"},
		{"user star", s.f.User + "*"},
		{"star user", "*" + s.f.User[1:]},
		{"close open", ")("},
		{"or all", s.f.User + ")(|(objectClass=*)"},
		{"or uid", "*)(uid=*))(|(uid=*"},
		{"escaped NUL", `\00`},
		{"NUL", "\x00"},
		{"user NUL", s.f.User + "\x00"},
		{"user escaped NUL", s.f.User + `\00`},
		{"backslash star", `\2a`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := s.d.Find(s.ctx(t), tc.username)
			if !errors.Is(err, directory.ErrNotFound) {
				t.Fatalf("Find(%q) = %+v, %v; want ErrNotFound", tc.username, u, err)
			}
		})
	}
}

func (s *suite) testAuthenticate(t *testing.T) {
	s.authOK(t, s.f.User, s.f.Password, "with its password")
	s.authOK(t, strings.ToUpper(s.f.User), s.f.Password, "in upper case")
}

func (s *suite) testAuthenticateBad(t *testing.T) {
	s.restoreLock(t)
	cases := []struct{ name, username, password string }{
		{"wrong password", s.f.User, s.f.Password + "-wrong"},
		{"prefix of password", s.f.User, s.f.Password[:len(s.f.Password)-1]},
		{"password of another user", s.f.Other, s.f.Password},
		{"empty password", s.f.User, ""},
	}
	if swapped := swapCase(s.f.Password); swapped != s.f.Password {
		cases = append(cases, struct{ name, username, password string }{"other case password", s.f.User, swapped})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.authRefused(t, tc.username, tc.password, tc.name, directory.BadCredentials)
			s.forgetFailure(t, tc.username)
			// A success resets the failure count, as on every
			// directory, so that the cases do not add up to a lockout.
			s.authOK(t, s.f.User, s.f.Password, "after "+tc.name)
		})
	}
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		if l := strings.ToLower(string(r)); l != string(r) {
			return []rune(l)[0]
		}
		return []rune(strings.ToUpper(string(r)))[0]
	}, s)
}

func (s *suite) testLockout(t *testing.T) {
	s.restoreLock(t)
	wrong := s.f.Password + "-wrong"
	for i := 1; i < s.f.Lockout; i++ {
		s.authRefused(t, s.f.User, wrong, "failure "+strconv.Itoa(i), directory.BadCredentials)
	}
	if u, err := s.d.Find(s.ctx(t), s.f.User); err != nil || u.Locked {
		t.Fatalf("Find(%s) after %d failures: %+v, %v; want unlocked", s.f.User, s.f.Lockout-1, u, err)
	}
	// The failure that locks may say so, or not (AD answers 52e).
	s.authRefused(t, s.f.User, wrong, "locking failure", directory.BadCredentials, directory.LockedOut)

	s.authRefused(t, s.f.User, s.f.Password, "with its password while locked", directory.LockedOut)
	s.authRefused(t, s.f.User, wrong, "with a wrong password while locked", directory.LockedOut)
	u, err := s.d.Find(s.ctx(t), s.f.User)
	if err != nil {
		t.Fatalf("Find(%s) while locked: %v", s.f.User, err)
	}
	if !u.Locked {
		t.Errorf("Find(%s) after %d failures: Locked false, want true", s.f.User, s.f.Lockout)
	}
	if o, err := s.d.Find(s.ctx(t), s.f.Other); err != nil || o.Locked {
		t.Errorf("Find(%s) while %s is locked: %+v, %v; want unlocked", s.f.Other, s.f.User, o, err)
	}

	if !s.unlock(t, s.f.User) {
		t.Errorf("Unlock(%s) of a locked account: wasLocked false, want true", s.f.User)
	}
	if u, err := s.d.Find(s.ctx(t), s.f.User); err != nil || u.Locked {
		t.Errorf("Find(%s) after Unlock: %+v, %v; want unlocked", s.f.User, u, err)
	}
	s.authOK(t, s.f.User, s.f.Password, "after Unlock")
	if s.unlock(t, s.f.User) {
		t.Errorf("Unlock(%s) again: wasLocked true, want false", s.f.User)
	}
}

func (s *suite) testUnlockUnlocked(t *testing.T) {
	s.restoreLock(t)
	for _, u := range []string{s.f.User, s.f.Other} {
		if s.unlock(t, u) {
			t.Errorf("Unlock(%s) of an unlocked account: wasLocked true, want false", u)
		}
	}
	s.authOK(t, s.f.User, s.f.Password, "after Unlock of an unlocked account")
}

func (s *suite) testSetPassword(t *testing.T) {
	s.restorePassword(t)
	s.restoreLock(t)
	p1 := fresh(s.f.MinLength)
	s.setOK(t, s.f.User, p1, "to a fresh password")
	s.authRefused(t, s.f.User, s.f.Password, "with the old password", directory.BadCredentials)
	s.forgetFailure(t, s.f.User)
	s.authOK(t, s.f.User, p1, "with the new password")
}

func (s *suite) testTooShort(t *testing.T) {
	s.restorePassword(t)
	s.setRefused(t, s.f.User, short(s.f.MinLength), "one character too short", directory.TooShort)
	s.authOK(t, s.f.User, s.f.Password, "after a refused change")
}

func (s *suite) testInHistory(t *testing.T) {
	s.restorePassword(t)
	p1, p2 := fresh(s.f.MinLength), fresh(s.f.MinLength)
	s.setOK(t, s.f.User, p1, "to a fresh password")
	s.setOK(t, s.f.User, p2, "to a second fresh password")
	if s.f.History == 1 {
		// Only the current password is remembered.
		s.setRefused(t, s.f.User, p2, "to the current password", directory.InHistory)
	} else {
		s.setRefused(t, s.f.User, p1, "back to the previous password", directory.InHistory)
	}
	s.authOK(t, s.f.User, p2, "after a refused change")
}

func (s *suite) testUnknownUser(t *testing.T) {
	const nobody = "dirconf-no-such-user"
	ctx := s.ctx(t)
	if err := s.d.SetPassword(ctx, nobody, fresh(s.f.MinLength)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("SetPassword(%s): %v, want ErrNotFound", nobody, err)
	}
	if was, err := s.d.Unlock(ctx, nobody); !errors.Is(err, directory.ErrNotFound) || was {
		t.Errorf("Unlock(%s): %v, %v; want false, ErrNotFound", nobody, was, err)
	}
	// Either answer is fine; success is not.
	u, err := s.d.Authenticate(ctx, nobody, s.f.Password)
	var ae *directory.AuthError
	if !errors.Is(err, directory.ErrNotFound) && !(errors.As(err, &ae) && ae.Reason == directory.BadCredentials) {
		t.Errorf("Authenticate(%s): %+v, %v; want ErrNotFound or BadCredentials", nobody, u, err)
	}
}

func (s *suite) testCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if u, err := s.d.Find(ctx, s.f.User); err == nil {
		t.Errorf("Find with a cancelled context: %+v, want an error", u)
	}
	if u, err := s.d.Authenticate(ctx, s.f.User, s.f.Password); err == nil {
		t.Errorf("Authenticate with a cancelled context: %+v, want an error", u)
	}
}
