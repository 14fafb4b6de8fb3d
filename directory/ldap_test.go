package directory_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/directory/dirtest"
)

// server is one kind of real directory server the tests run against.
type server struct {
	name  string
	start func(testing.TB) *dirtest.Server
}

var servers = []server{
	{"openldap", dirtest.Slapd},
	{"ad", dirtest.SambaAD},
}

// configFor is the configuration of a client of s over StartTLS.
func configFor(s *dirtest.Server) directory.Config {
	cfg := directory.Config{
		Type:         directory.Kind(s.Kind),
		URLs:         []string{s.URL},
		StartTLS:     true,
		CAFile:       s.CAFile,
		BindDN:       s.BindDN,
		BindPassword: directory.Secret(s.BindPassword),
		BaseDN:       s.BaseDN,
		DialTimeout:  3 * time.Second,
		OpTimeout:    5 * time.Second,
	}
	if s.Kind == dirtest.OpenLDAP {
		cfg.PolicyDN = "cn=default,ou=policies," + s.BaseDN
	}
	return cfg
}

func newLDAP(t *testing.T, cfg directory.Config, reg prometheus.Registerer) *directory.LDAP {
	t.Helper()
	l, err := directory.NewLDAP(cfg, nil, reg)
	if err != nil {
		t.Fatalf("NewLDAP: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func wantAuth(t *testing.T, err error, want directory.AuthReason) {
	t.Helper()
	var ae *directory.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *AuthError %s", err, want)
	}
	if ae.Reason != want {
		t.Fatalf("reason = %s, want %s (%v)", ae.Reason, want, err)
	}
}

func wantPolicy(t *testing.T, err error, want directory.PolicyReason) {
	t.Helper()
	var pe *directory.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PolicyError %s", err, want)
	}
	if pe.Reason != want {
		t.Fatalf("reason = %s, want %s (%v)", pe.Reason, want, err)
	}
	if pe.Err == nil {
		t.Fatalf("PolicyError does not wrap the directory's error")
	}
}

// TestLDAP runs the LDAP client against each real server: one server per
// kind, each subtest on its own user.
func TestLDAP(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			reg := prometheus.NewRegistry()
			l := newLDAP(t, configFor(s), reg)
			ctx := testCtx(t)
			if err := l.Check(ctx); err != nil {
				t.Fatalf("Check: %v", err)
			}
			alice, bob, carol, dave := s.Users[0], s.Users[1], s.Users[2], s.Users[3]
			newPW := "Reset-Passw0rd-2"

			t.Run("find", func(t *testing.T) {
				u, err := l.Find(ctx, alice)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.EqualFold(u.DN, s.UserDN(alice)) || !strings.EqualFold(u.Username, alice) {
					t.Errorf("DN, Username = %q, %q, want %q, %q", u.DN, u.Username, s.UserDN(alice), alice)
				}
				if u.Mail == "" || len(u.Phones) == 0 || u.Locked {
					t.Errorf("user = %+v, want mail, phones, unlocked", u)
				}
				if _, err := l.Find(ctx, "mallory"); !errors.Is(err, directory.ErrNotFound) {
					t.Errorf("Find(mallory) = %v, want ErrNotFound", err)
				}
			})

			t.Run("injection finds nothing", func(t *testing.T) {
				for _, name := range []string{"*", "a*", "*)(uid=*", alice + ")(|(objectClass=*", ")(", "\x00", alice + "\x00", `\2a`, alice + "*"} {
					if u, err := l.Find(ctx, name); !errors.Is(err, directory.ErrNotFound) {
						t.Errorf("Find(%q) = %+v, %v, want ErrNotFound", name, u, err)
					}
				}
			})

			t.Run("bind", func(t *testing.T) {
				if _, err := l.Authenticate(ctx, alice, s.UserPassword); err != nil {
					t.Fatalf("right password: %v", err)
				}
				_, err := l.Authenticate(ctx, alice, "Wrong-Passw0rd-9")
				wantAuth(t, err, directory.BadCredentials)
				_, err = l.Authenticate(ctx, "mallory", "Wrong-Passw0rd-9")
				wantAuth(t, err, directory.BadCredentials)
				_, err = l.Authenticate(ctx, alice, "")
				wantAuth(t, err, directory.BadCredentials)
				// A good bind clears the failure count.
				if _, err := l.Authenticate(ctx, alice, s.UserPassword); err != nil {
					t.Fatalf("right password again: %v", err)
				}
			})

			t.Run("reset and policy", func(t *testing.T) {
				if err := l.SetPassword(ctx, bob, newPW); err != nil {
					t.Fatalf("SetPassword: %v", err)
				}
				if _, err := l.Authenticate(ctx, bob, newPW); err != nil {
					t.Fatalf("new password: %v", err)
				}
				_, err := l.Authenticate(ctx, bob, s.UserPassword)
				wantAuth(t, err, directory.BadCredentials)

				wantPolicy(t, l.SetPassword(ctx, bob, "Sh0rt!"), directory.TooShort)
				hints, err := l.PolicyHintsSupported(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if s.Kind == dirtest.OpenLDAP || hints {
					wantPolicy(t, l.SetPassword(ctx, bob, s.UserPassword), directory.InHistory)
				} else {
					// Samba 4.17 neither implements nor advertises the
					// policy-hints control, so its resets skip history.
					if err := l.SetPassword(ctx, bob, s.UserPassword); err != nil {
						t.Fatalf("reset to an old password on a server without policy hints: %v", err)
					}
					t.Logf("%s: no policy-hints control; a reset to a password in history is accepted", s.Kind)
					if err := l.SetPassword(ctx, bob, newPW); err != nil {
						t.Fatal(err)
					}
				}
				if s.Kind == dirtest.AD {
					wantPolicy(t, l.SetPassword(ctx, bob, "alllowercaseletters"), directory.NotComplex)
				}
				if _, err := l.Authenticate(ctx, bob, newPW); err != nil {
					t.Fatalf("refused changes changed the password: %v", err)
				}
			})

			t.Run("lockout and unlock", func(t *testing.T) {
				for i := 0; i < 3; i++ {
					_, err := l.Authenticate(ctx, carol, "Wrong-Passw0rd-9")
					wantAuth(t, err, directory.BadCredentials)
				}
				_, err := l.Authenticate(ctx, carol, s.UserPassword)
				wantAuth(t, err, directory.LockedOut)
				u, err := l.Find(ctx, carol)
				if err != nil {
					t.Fatal(err)
				}
				if !u.Locked {
					t.Errorf("Find after lockout: Locked = false")
				}
				// AD's test domain unlocks after 30 minutes; slapd's policy
				// locks until an operator unlocks.
				if s.Kind == dirtest.AD && time.Until(u.LockedUntil) < 20*time.Minute {
					t.Errorf("LockedUntil = %v, want about 30 minutes from now", u.LockedUntil)
				}
				if s.Kind == dirtest.OpenLDAP && !u.LockedUntil.IsZero() {
					t.Errorf("LockedUntil = %v, want zero (until unlocked)", u.LockedUntil)
				}
				was, err := l.Unlock(ctx, carol)
				if err != nil || !was {
					t.Fatalf("Unlock = %v, %v, want true, nil", was, err)
				}
				if _, err := l.Authenticate(ctx, carol, s.UserPassword); err != nil {
					t.Fatalf("bind after unlock: %v", err)
				}
				if u, err := l.Find(ctx, carol); err != nil || u.Locked {
					t.Errorf("Find after unlock = %+v, %v", u, err)
				}
			})

			t.Run("unlock unlocked", func(t *testing.T) {
				was, err := l.Unlock(ctx, dave)
				if err != nil || was {
					t.Fatalf("Unlock = %v, %v, want false, nil", was, err)
				}
				if _, err := l.Unlock(ctx, "mallory"); !errors.Is(err, directory.ErrNotFound) {
					t.Errorf("Unlock(mallory) = %v, want ErrNotFound", err)
				}
			})

			t.Run("no password without TLS", func(t *testing.T) {
				cfg := configFor(s)
				cfg.StartTLS, cfg.InsecurePlain = false, true
				plain := newLDAP(t, cfg, nil)
				err := plain.SetPassword(ctx, dave, newPW)
				if !errors.Is(err, directory.ErrInsecure) {
					t.Fatalf("SetPassword over plain LDAP = %v, want ErrInsecure", err)
				}
				if _, err := plain.Authenticate(ctx, dave, s.UserPassword); !errors.Is(err, directory.ErrInsecure) {
					t.Fatalf("Authenticate over plain LDAP = %v, want ErrInsecure", err)
				}
				if _, err := l.Authenticate(ctx, dave, s.UserPassword); err != nil {
					t.Fatalf("dave's password changed: %v", err)
				}
			})

			t.Run("failover", func(t *testing.T) {
				cfg := configFor(s)
				cfg.URLs = []string{"ldap://" + closedPort(t), s.URL}
				fo := newLDAP(t, cfg, nil)
				if err := fo.Check(ctx); err != nil {
					t.Fatalf("Check: %v", err)
				}
				if _, err := fo.Find(ctx, dave); err != nil {
					t.Fatalf("Find: %v", err)
				}
				cfg.URLs, cfg.StartTLS = []string{"ldaps://" + closedPort(t), s.LDAPSURL}, false
				fo = newLDAP(t, cfg, nil)
				if _, err := fo.Authenticate(ctx, dave, s.UserPassword); err != nil {
					t.Fatalf("Authenticate over LDAPS: %v", err)
				}
			})

			t.Run("concurrent", func(t *testing.T) {
				errs := make(chan error, 20)
				for i := range 20 {
					go func() {
						_, err := l.Find(ctx, s.Users[i%len(s.Users)])
						errs <- err
					}()
				}
				for range 20 {
					if err := <-errs; err != nil {
						t.Error(err)
					}
				}
			})

			t.Run("must change after reset", func(t *testing.T) {
				if s.Kind != dirtest.AD {
					// slapd's policy has no pwdMustChange, so pwdReset
					// alone does not restrict the bind.
					t.Log("checked on AD only")
					return
				}
				cfg := configFor(s)
				cfg.MustChangeAfterReset = true
				must := newLDAP(t, cfg, nil)
				if err := must.SetPassword(ctx, dave, "Temporary-Passw0rd-4"); err != nil {
					t.Fatal(err)
				}
				_, err := l.Authenticate(ctx, dave, "Temporary-Passw0rd-4")
				wantAuth(t, err, directory.MustChange)
				cfg.MustChangeAfterReset, cfg.ClearMustChange = false, true
				clear := newLDAP(t, cfg, nil)
				if err := clear.SetPassword(ctx, dave, "Final-Passw0rd-5"); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Authenticate(ctx, dave, "Final-Passw0rd-5"); err != nil {
					t.Fatalf("bind after ClearMustChange: %v", err)
				}
			})

			t.Run("metrics", func(t *testing.T) {
				if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
					t.Fatalf("lint: %v %v", probs, err)
				}
				if n := testutil.ToFloat64(counter(t, reg, "find", "ok")); n < 1 {
					t.Errorf("find/ok = %v", n)
				}
				if n := testutil.ToFloat64(counter(t, reg, "set-password", "policy")); n < 2 {
					t.Errorf("set-password/policy = %v", n)
				}
				if n := testutil.ToFloat64(counter(t, reg, "authenticate", "refused")); n < 3 {
					t.Errorf("authenticate/refused = %v", n)
				}
			})
		})
	}
}

// counter returns the value of sspr_directory_operations_total{op,result}
// as a collector testutil can read.
func counter(t *testing.T, reg *prometheus.Registry, op, result string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sspr_directory_operations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["op"] == op && labels["result"] == result {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "c"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no sspr_directory_operations_total{op=%q,result=%q}", op, result)
	return nil
}

// TestLDAPServerStops stops the server under a client with pooled
// connections: operations then fail with ErrUnavailable, promptly.
func TestLDAPServerStops(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			cfg := configFor(s)
			cfg.DialTimeout, cfg.OpTimeout = 2*time.Second, 3*time.Second
			l := newLDAP(t, cfg, nil)
			ctx := testCtx(t)
			if _, err := l.Find(ctx, s.Users[0]); err != nil {
				t.Fatalf("Find before stop: %v", err)
			}
			s.Stop()
			for _, op := range []struct {
				name string
				do   func() error
			}{
				{"find", func() error { _, err := l.Find(ctx, s.Users[0]); return err }},
				{"authenticate", func() error { _, err := l.Authenticate(ctx, s.Users[0], s.UserPassword); return err }},
				{"set password", func() error { return l.SetPassword(ctx, s.Users[0], "Another-Passw0rd-3") }},
				{"unlock", func() error { _, err := l.Unlock(ctx, s.Users[0]); return err }},
				{"check", func() error { return l.Check(ctx) }},
			} {
				start := time.Now()
				err := op.do()
				if !errors.Is(err, directory.ErrUnavailable) {
					t.Errorf("%s after stop = %v, want ErrUnavailable", op.name, err)
				}
				if d := time.Since(start); d > cfg.DialTimeout+cfg.OpTimeout+time.Second {
					t.Errorf("%s after stop took %v", op.name, d)
				}
			}
		})
	}
}
