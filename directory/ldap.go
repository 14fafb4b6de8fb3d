package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// LDAP is a Directory on Active Directory or OpenLDAP. It keeps a small
// pool of connections bound as the service account; user binds use
// fresh connections. Safe for concurrent use.
type LDAP struct {
	cfg    Config
	tls    *tls.Config
	bindPW string
	log    *slog.Logger
	m      *metrics
	// anyTLS: some URL gives an encrypted connection.
	anyTLS bool

	sem  chan struct{}    // one token per connection in use
	idle chan *pooledConn // bound, unused connections

	mu         sync.Mutex
	lockoutDur map[string]time.Duration // policy DN (AD: "") → lockout duration
	hintsKnown bool                     // hints was read from the root DSE
	hints      bool                     // AD advertises policy hints
	closed     bool
}

var _ Directory = (*LDAP)(nil)

// pooledConn is a connection and what the pool knows of it.
type pooledConn struct {
	c        *ldap.Conn
	url      string
	tls      bool
	lastUsed time.Time
}

// healthIdle: an idle connection older than this is checked before use.
const healthIdle = 30 * time.Second

// NewLDAP checks cfg and returns an LDAP directory. It does not connect:
// call Check for that. reg may be nil.
func NewLDAP(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*LDAP, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	pw, err := cfg.bindPassword()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &LDAP{
		cfg:        cfg,
		tls:        tc,
		bindPW:     pw,
		log:        log.With("directory", string(cfg.Type)),
		m:          newMetrics(reg),
		sem:        make(chan struct{}, cfg.PoolSize),
		idle:       make(chan *pooledConn, cfg.PoolSize),
		lockoutDur: map[string]time.Duration{},
	}
	for _, s := range cfg.URLs {
		if strings.HasPrefix(s, "ldaps:") || cfg.StartTLS {
			l.anyTLS = true
		}
	}
	return l, nil
}

// Close closes the pooled connections. Operations after Close dial anew
// and close their connection when done.
func (l *LDAP) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	for {
		select {
		case pc := <-l.idle:
			pc.c.Close()
		default:
			return nil
		}
	}
}

// Find returns the one user named username.
func (l *LDAP) Find(ctx context.Context, username string) (u *User, err error) {
	defer func(start time.Time) { l.m.observe(opFind, start, err) }(time.Now())
	return l.findService(ctx, username)
}

// findService runs find on a pooled connection.
func (l *LDAP) findService(ctx context.Context, username string) (u *User, err error) {
	err = l.withService(ctx, func(pc *pooledConn) error {
		var err error
		u, _, err = l.find(pc.c, username)
		return err
	})
	return u, err
}

// Authenticate binds as username with password on a fresh connection.
func (l *LDAP) Authenticate(ctx context.Context, username, password string) (u *User, err error) {
	start := time.Now()
	defer func() { l.m.observe(opAuthenticate, start, err) }()
	if password == "" {
		return nil, &AuthError{Reason: BadCredentials, Err: errors.New("directory: empty password")}
	}
	if !l.anyTLS {
		return nil, fmt.Errorf("%w: no TLS configured", ErrInsecure)
	}
	u, err = l.findService(ctx, username)
	if errors.Is(err, ErrNotFound) {
		return nil, &AuthError{Reason: BadCredentials, Err: err}
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout+l.cfg.OpTimeout)
	defer cancel()
	pc, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer pc.c.Close()
	if !pc.tls {
		return nil, fmt.Errorf("%w: %s", ErrInsecure, pc.url)
	}
	var controls []ldap.Control
	if l.cfg.Type == OpenLDAP {
		controls = []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
	}
	var res *ldap.SimpleBindResult
	err = l.during(ctx, pc, func() error {
		var err error
		res, err = pc.c.SimpleBind(ldap.NewSimpleBindRequest(u.DN, password, controls))
		return err
	})
	if err != nil {
		if ae := authError(l.cfg.Type, err); ae != nil {
			l.log.Info("bind refused", "user_dn", u.DN, "reason", string(ae.Reason))
			return nil, ae
		}
		return nil, err
	}
	if res != nil {
		if pp := ppolicyControl(res.Controls); pp != nil && pp.Error >= 0 {
			if r := ppolicyAuthReason(pp.Error); r != BadCredentials {
				return nil, &AuthError{Reason: r, Err: fmt.Errorf("directory: ppolicy: %s", pp.ErrorString)}
			}
		}
	}
	return u, nil
}

// SetPassword sets username's password as the service account, over TLS
// only, with the directory's policy applied.
func (l *LDAP) SetPassword(ctx context.Context, username, password string) (err error) {
	defer func(start time.Time) { l.m.observe(opSetPassword, start, err) }(time.Now())
	if !l.anyTLS {
		return fmt.Errorf("%w: no TLS configured", ErrInsecure)
	}
	if password == "" {
		return &PolicyError{Reason: TooShort, Err: errors.New("directory: empty password")}
	}
	return l.withService(ctx, func(pc *pooledConn) error {
		if !pc.tls {
			return fmt.Errorf("%w: %s", ErrInsecure, pc.url)
		}
		u, _, err := l.find(pc.c, username)
		if err != nil {
			return err
		}
		if l.cfg.Type == AD {
			err = l.setADPassword(pc.c, u.DN, password)
		} else {
			err = l.setOpenLDAPPassword(pc.c, u.DN, password)
		}
		if err != nil {
			if pe := policyError(l.cfg.Type, err); pe != nil {
				return pe
			}
			return fmt.Errorf("directory: set password of %s: %w", u.DN, err)
		}
		l.log.Info("password set", "user_dn", u.DN)
		return l.afterReset(pc.c, u.DN)
	})
}

// PolicyHintsSupported reports whether an AD server advertises the
// policy-hints control (either OID) in its root DSE. Without it (Samba
// 4.17, which also ignores the control silently) a reset is not checked
// against the password history and minimum age. Always false for
// OpenLDAP, whose ppolicy applies to the service account's changes.
func (l *LDAP) PolicyHintsSupported(ctx context.Context) (bool, error) {
	if l.cfg.Type != AD {
		return false, nil
	}
	var ok bool
	err := l.withService(ctx, func(pc *pooledConn) error {
		var err error
		ok, err = l.policyHints(pc.c)
		return err
	})
	return ok, err
}

// policyHints reads (once) whether the server advertises policy hints.
func (l *LDAP) policyHints(c *ldap.Conn) (bool, error) {
	l.mu.Lock()
	known, ok := l.hintsKnown, l.hints
	l.mu.Unlock()
	if known {
		return ok, nil
	}
	res, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"supportedControl"}, nil))
	if err != nil {
		return false, fmt.Errorf("directory: read root DSE: %w", err)
	}
	for _, e := range res.Entries {
		for _, v := range e.GetAttributeValues("supportedControl") {
			if v == ldap.ControlTypeMicrosoftPolicyHints || v == ldap.ControlTypeMicrosoftPolicyHintsDeprecated {
				ok = true
			}
		}
	}
	if !ok {
		l.log.Warn("the server does not advertise the policy-hints control: password history and minimum age are not applied to resets")
	}
	l.mu.Lock()
	l.hintsKnown, l.hints = true, ok
	l.mu.Unlock()
	return ok, nil
}

// setADPassword replaces unicodePwd with the policy-hints control, falling
// back to the deprecated OID where the first is not supported.
func (l *LDAP) setADPassword(c *ldap.Conn, dn, password string) error {
	if _, err := l.policyHints(c); err != nil {
		l.log.Debug("cannot read supportedControl", "err", err)
	}
	value := encodeUnicodePwd(password)
	var err error
	for _, oid := range []string{ldap.ControlTypeMicrosoftPolicyHints, ldap.ControlTypeMicrosoftPolicyHintsDeprecated} {
		req := ldap.NewModifyRequest(dn, []ldap.Control{policyHints{oid: oid}})
		req.Replace("unicodePwd", []string{value})
		err = c.Modify(req)
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnavailableCriticalExtension) {
			return err
		}
		l.log.Debug("policy hints control not supported", "oid", oid)
	}
	return err
}

// setOpenLDAPPassword uses the Password Modify extended operation (RFC
// 3062) with the ppolicy request control.
func (l *LDAP) setOpenLDAPPassword(c *ldap.Conn, dn, password string) error {
	value := ber.Encode(ber.ClassContext, ber.TypePrimitive, 1, nil, "Password Modify Request")
	seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "PasswdModifyRequestValue")
	seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, dn, "userIdentity"))
	seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, password, "newPasswd"))
	value.AppendChild(seq)
	req := &ldap.ExtendedRequest{
		Name:     passwordModifyOID,
		Value:    value,
		Controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()},
	}
	_, err := c.Extended(req)
	return err
}

const passwordModifyOID = "1.3.6.1.4.1.4203.1.11.1"

// afterReset applies MustChangeAfterReset or ClearMustChange.
func (l *LDAP) afterReset(c *ldap.Conn, dn string) error {
	if !l.cfg.MustChangeAfterReset && !l.cfg.ClearMustChange {
		return nil
	}
	req := ldap.NewModifyRequest(dn, nil)
	switch {
	case l.cfg.Type == AD && l.cfg.MustChangeAfterReset:
		req.Replace("pwdLastSet", []string{"0"})
	case l.cfg.Type == AD:
		req.Replace("pwdLastSet", []string{"-1"})
	case l.cfg.MustChangeAfterReset:
		req.Replace("pwdReset", []string{"TRUE"})
	default:
		req.Delete("pwdReset", nil)
	}
	err := c.Modify(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("directory: password set, but not the must-change flag of %s: %w", dn, err)
	}
	return nil
}

// Unlock clears username's lockout.
func (l *LDAP) Unlock(ctx context.Context, username string) (wasLocked bool, err error) {
	defer func(start time.Time) { l.m.observe(opUnlock, start, err) }(time.Now())
	err = l.withService(ctx, func(pc *pooledConn) error {
		u, present, err := l.find(pc.c, username)
		if err != nil {
			return err
		}
		req := ldap.NewModifyRequest(u.DN, nil)
		if l.cfg.Type == AD {
			req.Replace("lockoutTime", []string{"0"})
		} else {
			req.Delete("pwdAccountLockedTime", nil)
		}
		err = pc.c.Modify(req)
		if l.cfg.Type == OpenLDAP && ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
			present, err = false, nil
		}
		if err != nil {
			return fmt.Errorf("directory: unlock %s: %w", u.DN, err)
		}
		wasLocked = u.Locked || (l.cfg.Type == OpenLDAP && present)
		l.log.Info("unlocked", "user_dn", u.DN, "was_locked", wasLocked)
		return nil
	})
	return wasLocked, err
}

// Check dials a fresh connection (TLS as configured) and binds as the
// service account.
func (l *LDAP) Check(ctx context.Context) (err error) {
	defer func(start time.Time) { l.m.observe(opCheck, start, err) }(time.Now())
	ctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout+l.cfg.OpTimeout)
	defer cancel()
	pc, err := l.connectBound(ctx)
	if err != nil {
		return err
	}
	defer pc.c.Close()
	return l.during(ctx, pc, func() error {
		_, err := pc.c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		if err != nil {
			return fmt.Errorf("directory: read root DSE on %s: %w", pc.url, err)
		}
		return nil
	})
}

// find searches the one user named username on c. present reports
// whether the lockout attribute is there at all (OpenLDAP).
func (l *LDAP) find(c *ldap.Conn, username string) (u *User, present bool, err error) {
	if !plausibleUsername(username) {
		return nil, false, ErrNotFound
	}
	attrs := []string{l.cfg.UsernameAttr, l.cfg.DisplayNameAttr, l.cfg.MailAttr}
	attrs = append(attrs, l.cfg.PhoneAttrs...)
	if l.cfg.LanguageAttr != "-" {
		attrs = append(attrs, l.cfg.LanguageAttr)
	}
	if l.cfg.Type == AD {
		attrs = append(attrs, "msDS-User-Account-Control-Computed", "lockoutTime")
	} else {
		attrs = append(attrs, "pwdAccountLockedTime", "pwdPolicySubentry")
	}
	req := ldap.NewSearchRequest(l.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(l.cfg.OpTimeout/time.Second), false, userFilter(l.cfg.UserFilter, username), attrs, nil)
	res, err := c.Search(req)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || (res != nil && len(res.Entries) > 1):
		return nil, false, ErrAmbiguous
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil, false, ErrNotFound
	case err != nil:
		return nil, false, fmt.Errorf("directory: search: %w", err)
	case len(res.Entries) == 0:
		return nil, false, ErrNotFound
	}
	e := res.Entries[0]
	u = &User{
		DN:          e.DN,
		Username:    e.GetAttributeValue(l.cfg.UsernameAttr),
		DisplayName: e.GetAttributeValue(l.cfg.DisplayNameAttr),
		Mail:        e.GetAttributeValue(l.cfg.MailAttr),
	}
	if l.cfg.LanguageAttr != "-" {
		u.Language = e.GetAttributeValue(l.cfg.LanguageAttr)
	}
	for _, a := range l.cfg.PhoneAttrs {
		u.Phones = append(u.Phones, e.GetAttributeValues(a)...)
	}
	now := time.Now()
	if l.cfg.Type == AD {
		computed, _ := strconv.ParseInt(e.GetAttributeValue("msDS-User-Account-Control-Computed"), 10, 64)
		if computed&ufLockout != 0 {
			u.Locked = true
			if d, ok := l.adLockoutDuration(c); ok {
				u.LockedUntil = adLockedUntil(e.GetAttributeValue("lockoutTime"), d)
			}
		}
		return u, u.Locked, nil
	}
	locked := e.GetAttributeValue("pwdAccountLockedTime")
	if locked == "" {
		return u, false, nil
	}
	policy := e.GetAttributeValue("pwdPolicySubentry")
	if policy == "" {
		policy = l.cfg.PolicyDN
	}
	var d time.Duration
	if policy != "" {
		d, _ = l.openLDAPLockoutDuration(c, policy)
	}
	u.Locked, u.LockedUntil = openLDAPLockState(locked, d, now)
	return u, true, nil
}

// plausibleUsername rejects what no directory's username holds: empty,
// over 256 bytes, invalid UTF-8, or control characters (Samba ends a
// filter value at an escaped NUL, so "alice\x00" would find alice).
func plausibleUsername(s string) bool {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// ufLockout is AD's UF_LOCKOUT bit of msDS-User-Account-Control-Computed.
const ufLockout = 0x10

// userFilter fills the {username} placeholders of template with the
// escaped username.
func userFilter(template, username string) string {
	return strings.ReplaceAll(template, usernamePlaceholder, ldap.EscapeFilter(username))
}

// adLockoutDuration reads the domain's lockoutDuration once.
func (l *LDAP) adLockoutDuration(c *ldap.Conn) (time.Duration, bool) {
	l.mu.Lock()
	d, ok := l.lockoutDur[""]
	l.mu.Unlock()
	if ok {
		return d, true
	}
	res, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"defaultNamingContext"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return 0, false
	}
	nc := res.Entries[0].GetAttributeValue("defaultNamingContext")
	res, err = c.Search(ldap.NewSearchRequest(nc, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"lockoutDuration"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return 0, false
	}
	ticks, err := strconv.ParseInt(res.Entries[0].GetAttributeValue("lockoutDuration"), 10, 64)
	if err != nil {
		return 0, false
	}
	d = adDuration(ticks)
	l.mu.Lock()
	l.lockoutDur[""] = d
	l.mu.Unlock()
	return d, true
}

// adDuration converts an AD interval (negative 100 ns ticks; the most
// negative value means forever) into a duration; 0 means forever.
func adDuration(ticks int64) time.Duration {
	if ticks == -1<<63 || ticks == 0 {
		return 0
	}
	if ticks < 0 {
		ticks = -ticks
	}
	return time.Duration(ticks) * 100
}

// adLockedUntil computes the end of an AD lockout from lockoutTime (a
// FILETIME) and the domain's duration (0: until unlocked).
func adLockedUntil(lockoutTime string, d time.Duration) time.Time {
	ft, err := strconv.ParseInt(lockoutTime, 10, 64)
	if err != nil || ft <= 0 || d == 0 {
		return time.Time{}
	}
	return fileTime(ft).Add(d)
}

// fileTime converts a Windows FILETIME (100 ns since 1601) to a time.
func fileTime(ft int64) time.Time {
	const epochDiff = 116444736000000000 // 1601 → 1970 in 100 ns
	return time.Unix(0, (ft-epochDiff)*100).UTC()
}

// openLDAPLockoutDuration reads pwdLockoutDuration from a ppolicy entry
// (cached per DN).
func (l *LDAP) openLDAPLockoutDuration(c *ldap.Conn, policyDN string) (time.Duration, bool) {
	l.mu.Lock()
	d, ok := l.lockoutDur[policyDN]
	l.mu.Unlock()
	if ok {
		return d, true
	}
	res, err := c.Search(ldap.NewSearchRequest(policyDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"pwdLockoutDuration"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return 0, false
	}
	secs, _ := strconv.ParseInt(res.Entries[0].GetAttributeValue("pwdLockoutDuration"), 10, 64)
	d = time.Duration(secs) * time.Second
	l.mu.Lock()
	l.lockoutDur[policyDN] = d
	l.mu.Unlock()
	return d, true
}

// permanentLock is the pwdAccountLockedTime value of an account locked
// until an administrator unlocks it.
const permanentLock = "000001010000Z"

// openLDAPLockState interprets pwdAccountLockedTime under a policy
// lockout duration d (0: until unlocked).
func openLDAPLockState(lockedTime string, d time.Duration, now time.Time) (locked bool, until time.Time) {
	if lockedTime == "" {
		return false, time.Time{}
	}
	if lockedTime == permanentLock || d == 0 {
		return true, time.Time{}
	}
	t, err := ber.ParseGeneralizedTime([]byte(lockedTime))
	if err != nil {
		return true, time.Time{}
	}
	until = t.Add(d)
	if !now.Before(until) {
		return false, time.Time{}
	}
	return true, until
}

// encodeUnicodePwd returns AD's unicodePwd value: the password in double
// quotes, UTF-16LE.
func encodeUnicodePwd(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		b[2*i] = byte(r)
		b[2*i+1] = byte(r >> 8)
	}
	return string(b)
}

// policyHints is AD's LDAP_SERVER_POLICY_HINTS control (or its deprecated
// OID): value SEQUENCE { Flags INTEGER 1 }, critical.
type policyHints struct{ oid string }

func (p policyHints) GetControlType() string { return p.oid }

func (p policyHints) Encode() *ber.Packet {
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, p.oid, "Control Type"))
	packet.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	value := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "PolicyHintsRequestValue")
	value.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "Flags"))
	v := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "Control Value")
	v.AppendChild(value)
	packet.AppendChild(v)
	return packet
}

func (p policyHints) String() string { return "Policy Hints " + p.oid }

// withService runs fn on a pooled service-account connection, bounded by
// OpTimeout and ctx. A connection that failed is dropped, not pooled.
func (l *LDAP) withService(ctx context.Context, fn func(*pooledConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout+l.cfg.OpTimeout)
	defer cancel()
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for a connection: %w", ErrUnavailable, ctx.Err())
	}
	defer func() { <-l.sem }()
	pc, err := l.get(ctx)
	if err != nil {
		return err
	}
	err = l.during(ctx, pc, func() error { return fn(pc) })
	l.put(pc, err)
	return err
}

// during runs fn with pc's operations bounded by OpTimeout and ctx: when
// ctx ends, the connection is closed, which ends fn.
func (l *LDAP) during(ctx context.Context, pc *pooledConn, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.OpTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { pc.c.Close() })
	pc.c.SetTimeout(l.cfg.OpTimeout)
	err := fn()
	if !stop() {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, pc.url, ctx.Err())
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, pc.url, err)
	}
	return err
}

// get returns an idle pooled connection that is still healthy, or a new
// one.
func (l *LDAP) get(ctx context.Context) (*pooledConn, error) {
	for {
		select {
		case pc := <-l.idle:
			if pc.c.IsClosing() {
				continue
			}
			if time.Since(pc.lastUsed) > healthIdle {
				if err := l.during(ctx, pc, func() error { return ping(pc.c) }); err != nil {
					l.log.Debug("dropping stale connection", "url", pc.url, "err", err)
					pc.c.Close()
					continue
				}
			}
			return pc, nil
		default:
			return l.connectBound(ctx)
		}
	}
}

// put returns pc to the pool unless it failed or the pool is full.
func (l *LDAP) put(pc *pooledConn, err error) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed || pc.c.IsClosing() || errors.Is(err, ErrUnavailable) {
		pc.c.Close()
		return
	}
	pc.lastUsed = time.Now()
	select {
	case l.idle <- pc:
	default:
		pc.c.Close()
	}
}

// ping checks a connection with a root DSE read.
func ping(c *ldap.Conn) error {
	_, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	return err
}

// connectBound connects and binds as the service account.
func (l *LDAP) connectBound(ctx context.Context) (*pooledConn, error) {
	pc, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	err = l.during(ctx, pc, func() error { return pc.c.Bind(l.cfg.BindDN, l.bindPW) })
	if err != nil {
		pc.c.Close()
		return nil, fmt.Errorf("directory: service account bind on %s: %w", pc.url, err)
	}
	return pc, nil
}

// connect dials the URLs in order and returns the first connection that
// is up (with TLS as configured), or ErrUnavailable.
func (l *LDAP) connect(ctx context.Context) (*pooledConn, error) {
	var errs []error
	for _, raw := range l.cfg.URLs {
		dctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout)
		pc, err := l.dial(dctx, raw)
		cancel()
		if err == nil {
			return pc, nil
		}
		l.log.Warn("directory server unavailable", "url", raw, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", raw, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// dial connects to one URL within ctx: TCP, then LDAPS or StartTLS.
func (l *LDAP) dial(ctx context.Context, raw string) (*pooledConn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = ldap.DefaultLdapPort
		if u.Scheme == "ldaps" {
			port = ldap.DefaultLdapsPort
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	tc := l.tls.Clone()
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	pc := &pooledConn{url: raw}
	if u.Scheme == "ldaps" {
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			stop()
			nc.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		nc, pc.tls = tlsConn, true
	}
	pc.c = ldap.NewConn(nc, pc.tls)
	pc.c.Start()
	if deadline, ok := ctx.Deadline(); ok {
		pc.c.SetTimeout(time.Until(deadline))
	}
	if u.Scheme == "ldap" && l.cfg.StartTLS {
		if err := pc.c.StartTLS(tc); err != nil {
			stop()
			pc.c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
		pc.tls = true
	}
	if !stop() {
		pc.c.Close()
		return nil, ctx.Err()
	}
	return pc, nil
}

// isUnavailable reports whether err means the server is gone or busy
// rather than refusing the request.
func isUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultTimeLimitExceeded:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}
