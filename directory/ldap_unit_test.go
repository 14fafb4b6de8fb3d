package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestUserFilterEscapes(t *testing.T) {
	tests := []struct {
		name, template, username, want string
	}{
		{"plain", DefaultOpenLDAPUserFilter, "alice", "(&(objectClass=inetOrgPerson)(uid=alice))"},
		{"star", DefaultOpenLDAPUserFilter, "*", `(&(objectClass=inetOrgPerson)(uid=\2a))`},
		{"close and reopen", DefaultADUserFilter, "x)(sAMAccountName=*", `(&(objectClass=user)(sAMAccountName=x\29\28sAMAccountName=\2a))`},
		{"nul", DefaultOpenLDAPUserFilter, "alice\x00", `(&(objectClass=inetOrgPerson)(uid=alice\00))`},
		{"backslash", DefaultOpenLDAPUserFilter, `a\2a`, `(&(objectClass=inetOrgPerson)(uid=a\5c2a))`},
		{"twice", "(|(uid={username})(mail={username}))", "a*", `(|(uid=a\2a)(mail=a\2a))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := userFilter(tt.template, tt.username)
			if got != tt.want {
				t.Errorf("userFilter(%q) = %q, want %q", tt.username, got, tt.want)
			}
			if _, err := ldap.CompileFilter(got); err != nil {
				t.Errorf("filter %q does not compile: %v", got, err)
			}
		})
	}
}

func TestPlausibleUsername(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"plain", "alice", true},
		{"dotted", "alice.smith@example.test", true},
		{"unicode", "jürgen", true},
		{"empty", "", false},
		{"nul", "alice\x00", false},
		{"newline", "alice\n", false},
		{"del", "alice\x7f", false},
		{"invalid utf-8", "alice\xff", false},
		{"long", strings.Repeat("a", 257), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plausibleUsername(tt.in); got != tt.want {
				t.Errorf("plausibleUsername(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestADBindSubCode(t *testing.T) {
	tests := []struct {
		name, diag string
		sub        string
		reason     AuthReason
	}{
		{"bad password", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563", "52e", BadCredentials},
		{"locked", "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1", "775", LockedOut},
		{"disabled", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563", "533", Disabled},
		{"password expired", "... AcceptSecurityContext error, data 532, v4563", "532", Expired},
		{"account expired", "... AcceptSecurityContext error, data 701, v4563", "701", Expired},
		{"must change", "... AcceptSecurityContext error, DATA 773, v4563", "773", MustChange},
		{"logon hours", "... AcceptSecurityContext error, data 530, v4563", "530", AuthUnknown},
		{"none", "Invalid credentials", "", AuthUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := adBindSubCode(tt.diag)
			if sub != tt.sub {
				t.Fatalf("adBindSubCode = %q, want %q", sub, tt.sub)
			}
			if got := adAuthReason(sub); got != tt.reason {
				t.Errorf("adAuthReason(%q) = %s, want %s", sub, got, tt.reason)
			}
		})
	}
}

// ldapError builds the *ldap.Error a server's response would give, with a
// ppolicy response control carrying ppErr (-1: no control).
func ldapError(t *testing.T, code uint16, diag string, ppErr int) error {
	t.Helper()
	envelope := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
	envelope.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "MessageID"))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedResponse, nil, "Response")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(code), "resultCode"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, "diagnosticMessage"))
	envelope.AppendChild(op)
	if ppErr >= 0 {
		controls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		control := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
		control.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, ldap.ControlTypeBeheraPasswordPolicy, "type"))
		seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "PasswordPolicyResponseValue")
		seq.AppendChild(ber.NewInteger(ber.ClassContext, ber.TypePrimitive, 1, int64(ppErr), "error"))
		value := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "value")
		value.Value = seq.Bytes()
		value.Data.Write(seq.Bytes())
		control.AppendChild(value)
		controls.AppendChild(control)
		envelope.AppendChild(controls)
	}
	// Round-trip through bytes, as a response off the wire.
	packet, err := ber.DecodePacketErr(envelope.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	err = ldap.GetLDAPError(packet)
	if err == nil {
		t.Fatal("GetLDAPError: nil")
	}
	return err
}

func TestPolicyError(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		code uint16
		diag string
		pp   int
		want PolicyReason // "": not a policy error
	}{
		{"ad too short", AD, 19, "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 8 characters!", -1, TooShort},
		{"ad history", AD, 19, "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!", -1, InHistory},
		{"ad complexity", AD, 19, "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!", -1, NotComplex},
		{"ad too young", AD, 19, "0000052D: Constraint violation - check_password_restrictions: password is too young to change!", -1, TooRecent},
		{"windows unwilling", AD, 53, "0000052D: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0", -1, PolicyOther},
		{"ad access denied", AD, 50, "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0", -1, ""},
		{"ad unwilling other", AD, 53, "00002077: SvcErr: DSID-03190EE4, problem 5003 (WILL_NOT_PERFORM)", -1, ""},
		{"openldap short by control", OpenLDAP, 19, "Password fails quality checking policy", ppPasswordTooShort, TooShort},
		{"openldap quality by control", OpenLDAP, 19, "Password fails quality checking policy", ppInsufficientPasswordQuality, NotComplex},
		{"openldap history by control", OpenLDAP, 19, "Password is in history of old passwords", ppPasswordInHistory, InHistory},
		{"openldap too young by control", OpenLDAP, 19, "Password is too young to change", ppPasswordTooYoung, TooRecent},
		{"openldap quality by message", OpenLDAP, 19, "Password fails quality checking policy", -1, NotComplex},
		{"openldap history by message", OpenLDAP, 19, "Password is in history of old passwords", -1, InHistory},
		{"openldap too young by message", OpenLDAP, 19, "Password is too young to change", -1, TooRecent},
		{"openldap too short by message", OpenLDAP, 19, "Password is too short for policy", -1, TooShort},
		{"openldap other constraint", OpenLDAP, 19, "something else", -1, PolicyOther},
		{"openldap access", OpenLDAP, 50, "no write access to parent", -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ldapError(t, tt.code, tt.diag, tt.pp)
			pe := policyError(tt.kind, err)
			if tt.want == "" {
				if pe != nil {
					t.Fatalf("policyError = %v, want nil", pe)
				}
				return
			}
			if pe == nil {
				t.Fatalf("policyError = nil, want %s", tt.want)
			}
			if pe.Reason != tt.want {
				t.Errorf("reason = %s, want %s", pe.Reason, tt.want)
			}
			var le *ldap.Error
			if !errors.As(pe, &le) || le.ResultCode != tt.code {
				t.Errorf("PolicyError does not wrap the *ldap.Error: %v", pe)
			}
			if classify(fmt.Errorf("x: %w", pe)) != resultPolicy {
				t.Errorf("classify = %s", classify(pe))
			}
		})
	}
}

func TestAuthError(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		code uint16
		diag string
		pp   int
		want AuthReason // "": not an auth refusal
	}{
		{"openldap bad", OpenLDAP, 49, "", -1, BadCredentials},
		{"openldap locked", OpenLDAP, 49, "", ppAccountLocked, LockedOut},
		{"openldap expired", OpenLDAP, 49, "", ppPasswordExpired, Expired},
		{"ad locked", AD, 49, "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563", -1, LockedOut},
		{"ad must change", AD, 49, "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 773, v4563", -1, MustChange},
		{"ad no sub-code", AD, 49, "invalid", -1, BadCredentials},
		{"unwilling", OpenLDAP, 53, "unauthenticated bind", -1, AuthUnknown},
		{"busy", AD, 51, "", -1, ""},
		{"unavailable", OpenLDAP, 52, "", -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ae := authError(tt.kind, ldapError(t, tt.code, tt.diag, tt.pp))
			if tt.want == "" {
				if ae != nil {
					t.Fatalf("authError = %v, want nil", ae)
				}
				return
			}
			if ae == nil || ae.Reason != tt.want {
				t.Fatalf("authError = %v, want %s", ae, tt.want)
			}
			if classify(ae) != resultRefused {
				t.Errorf("classify = %s", classify(ae))
			}
		})
	}
	if authError(OpenLDAP, errors.New("not ldap")) != nil {
		t.Error("authError of a non-LDAP error is not nil")
	}
}

func TestPolicyHintsControl(t *testing.T) {
	p := policyHints{oid: ldap.ControlTypeMicrosoftPolicyHints}.Encode()
	if len(p.Children) != 3 {
		t.Fatalf("control has %d children, want 3", len(p.Children))
	}
	if got := p.Children[0].Value; got != "1.2.840.113556.1.4.2239" {
		t.Errorf("OID = %v", got)
	}
	if got := p.Children[1].Value; got != true {
		t.Errorf("criticality = %v, want true", got)
	}
	want := []byte{0x30, 0x03, 0x02, 0x01, 0x01} // SEQUENCE { INTEGER 1 }
	if got := p.Children[2].Data.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("value = % x, want % x", got, want)
	}
}

func TestEncodeUnicodePwd(t *testing.T) {
	got := []byte(encodeUnicodePwd("Pä1"))
	want := []byte{'"', 0, 'P', 0, 0xe4, 0, '1', 0, '"', 0}
	if !bytes.Equal(got, want) {
		t.Errorf("encodeUnicodePwd = % x, want % x", got, want)
	}
}

func TestOpenLDAPLockState(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		value      string
		d          time.Duration
		wantLocked bool
		wantUntil  time.Time
	}{
		{"not locked", "", time.Hour, false, time.Time{}},
		{"permanent", permanentLock, time.Hour, true, time.Time{}},
		{"no duration", "20261124115900Z", 0, true, time.Time{}},
		{"running", "20261124115900Z", 5 * time.Minute, true, now.Add(4 * time.Minute)},
		{"over", "20261124110000Z", 5 * time.Minute, false, time.Time{}},
		{"garbage", "yesterday", 5 * time.Minute, true, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			locked, until := openLDAPLockState(tt.value, tt.d, now)
			if locked != tt.wantLocked || !until.Equal(tt.wantUntil) {
				t.Errorf("= %v, %v, want %v, %v", locked, until, tt.wantLocked, tt.wantUntil)
			}
		})
	}
}

func TestADTimes(t *testing.T) {
	if d := adDuration(-18000000000); d != 30*time.Minute {
		t.Errorf("adDuration(30 min) = %v", d)
	}
	if d := adDuration(-1 << 63); d != 0 {
		t.Errorf("adDuration(forever) = %v", d)
	}
	// 2026-11-24T12:00:00Z as a FILETIME.
	ft := (time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Unix() + 11644473600) * 1e7
	until := adLockedUntil(fmt.Sprint(ft), 30*time.Minute)
	if want := time.Date(2026, 11, 24, 12, 30, 0, 0, time.UTC); !until.Equal(want) {
		t.Errorf("adLockedUntil = %v, want %v", until, want)
	}
	if !adLockedUntil("0", time.Minute).IsZero() || !adLockedUntil(fmt.Sprint(ft), 0).IsZero() {
		t.Error("adLockedUntil without lockout time or duration is not zero")
	}
}

func validConfig() Config {
	return Config{
		Type:         OpenLDAP,
		URLs:         []string{"ldaps://127.0.0.1:636"},
		BindDN:       "cn=svc,dc=example,dc=test",
		BindPassword: "x",
		BaseDN:       "dc=example,dc=test",
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string // "": valid
	}{
		{"valid", func(*Config) {}, ""},
		{"valid ad", func(c *Config) { c.Type = AD }, ""},
		{"no type", func(c *Config) { c.Type = "" }, "type"},
		{"bad type", func(c *Config) { c.Type = "novell" }, "type"},
		{"no urls", func(c *Config) { c.URLs = nil }, "urls"},
		{"bad scheme", func(c *Config) { c.URLs = []string{"http://x"} }, "urls[0]"},
		{"no host", func(c *Config) { c.URLs = []string{"ldaps://"} }, "urls[0]"},
		{"plain", func(c *Config) { c.URLs = append(c.URLs, "ldap://127.0.0.1:389") }, "urls[1]"},
		{"plain with starttls", func(c *Config) { c.URLs = []string{"ldap://h"}; c.StartTLS = true }, ""},
		{"plain allowed", func(c *Config) { c.URLs = []string{"ldap://h"}; c.InsecurePlain = true }, ""},
		{"no bind dn", func(c *Config) { c.BindDN = "" }, "bind_dn"},
		{"no password", func(c *Config) { c.BindPassword = "" }, "bind_password_file"},
		{"no base", func(c *Config) { c.BaseDN = "" }, "base_dn"},
		{"filter without placeholder", func(c *Config) { c.UserFilter = "(uid=alice)" }, "user_filter"},
		{"filter unparenthesised", func(c *Config) { c.UserFilter = "uid={username}" }, "user_filter"},
		{"negative timeout", func(c *Config) { c.OpTimeout = -time.Second }, "op_timeout"},
		{"negative dial timeout", func(c *Config) { c.DialTimeout = -time.Second }, "dial_timeout"},
		{"huge pool", func(c *Config) { c.PoolSize = 1000 }, "pool_size"},
		{"both must-change options", func(c *Config) { c.MustChangeAfterReset, c.ClearMustChange = true, true }, "must_change_after_reset"},
		{"missing CA file", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.withDefaults().validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate = nil, want an error naming %s", tt.field)
			}
			if !strings.Contains(err.Error(), "config "+tt.field+":") {
				t.Errorf("validate = %q, want it to name %s", err, tt.field)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig().withDefaults()
	if c.UserFilter != DefaultOpenLDAPUserFilter || c.DialTimeout != 5*time.Second || c.OpTimeout != 10*time.Second || c.PoolSize != DefaultPoolSize {
		t.Errorf("OpenLDAP defaults: %+v", c)
	}
	a := validConfig()
	a.Type = AD
	if a = a.withDefaults(); a.UserFilter != DefaultADUserFilter || a.UsernameAttr != "sAMAccountName" {
		t.Errorf("AD defaults: %+v", a)
	}
}

func TestBindPasswordFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := validConfig()
	c.BindPassword, c.BindPasswordFile = "", path
	pw, err := c.bindPassword()
	if err != nil || pw != "s3cret" {
		t.Fatalf("bindPassword = %q, %v", pw, err)
	}
	c.BindPasswordFile = filepath.Join(dir, "missing")
	if _, err := NewLDAP(c, nil, nil); err == nil || !strings.Contains(err.Error(), "bind_password_file") {
		t.Errorf("NewLDAP with a missing password file = %v", err)
	}
	if s := fmt.Sprint(Secret("s3cret")); strings.Contains(s, "s3cret") {
		t.Errorf("Secret prints %q", s)
	}
}

// blackhole accepts connections and never answers; it returns its address
// and closes everything when the test ends.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestUnresponsiveServer: a server that accepts and never answers gives
// ErrUnavailable within the timeouts, or sooner when ctx ends; never a hang.
func TestUnresponsiveServer(t *testing.T) {
	for _, scheme := range []string{"ldap", "ldaps"} {
		t.Run(scheme, func(t *testing.T) {
			c := validConfig()
			c.URLs = []string{scheme + "://" + blackhole(t), scheme + "://" + blackhole(t)}
			c.StartTLS = scheme == "ldap"
			c.DialTimeout, c.OpTimeout = 300*time.Millisecond, 300*time.Millisecond
			reg := prometheus.NewRegistry()
			l, err := NewLDAP(c, nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()

			start := time.Now()
			_, err = l.Find(context.Background(), "alice")
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Find = %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Find took %v", d)
			}
			// Both URLs were tried.
			if n := strings.Count(err.Error(), "127.0.0.1:"); n < 2 {
				t.Errorf("error names %d servers, want 2: %v", n, err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start = time.Now()
			if err := l.Check(ctx); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Check = %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 250*time.Millisecond {
				t.Errorf("Check ignored its context: took %v", d)
			}
			if got := testutil.ToFloat64(l.m.ops.WithLabelValues(opFind, string(resultUnavailable))); got != 1 {
				t.Errorf("find/unavailable = %v, want 1", got)
			}
		})
	}
}

func TestInsecureRefusedBeforeDialling(t *testing.T) {
	c := validConfig()
	c.URLs = []string{"ldap://" + blackhole(t)}
	c.InsecurePlain = true
	l, err := NewLDAP(c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := l.SetPassword(context.Background(), "alice", "New-Passw0rd-1"); !errors.Is(err, ErrInsecure) {
		t.Errorf("SetPassword = %v, want ErrInsecure", err)
	}
	if _, err := l.Authenticate(context.Background(), "alice", "New-Passw0rd-1"); !errors.Is(err, ErrInsecure) {
		t.Errorf("Authenticate = %v, want ErrInsecure", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("took %v: dialled?", d)
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	newMetrics(reg)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(reg, "sspr_directory_operations_total"); n != 5*6 {
		t.Errorf("%d operation series, want 30", n)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want result
	}{
		{nil, resultOK},
		{ErrNotFound, resultNotFound},
		{fmt.Errorf("x: %w", ErrUnavailable), resultUnavailable},
		{&AuthError{Reason: BadCredentials, Err: ErrNotFound}, resultRefused},
		{&PolicyError{Reason: TooShort}, resultPolicy},
		{ErrInsecure, resultRefused},
		{ErrAmbiguous, resultError},
		{errors.New("boom"), resultError},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}
