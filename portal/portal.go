// Package portal is where a person meets sspr: the registration, reset
// and unlock pages, served from Go templates with embedded assets, that
// walk a person through the configured gates (package workflow), keep
// their state in a store (package store) so that any node can serve any
// request, and place the verification calls.
//
// It needs a directory and a verifier, through the small interfaces
// declared here; cmd/sspr adapts the directory and ivr packages to them.
// Pages work without JavaScript (a refresh-based fallback); with it, the
// phone gate follows the call live over server-sent events.
//
// What it guarantees: the same page, status and work for an unknown, an
// unregistered and a registered username (a call goes only to a
// registered number); a reset-process lockout that never touches the
// directory account; caps on calls per user, per number, per client
// address and per minute; sessions bound to the browser that started
// them, expiring and single-use; an audit record for every attempt; and
// no password, PIN, code, answer or full phone number in a log, a record
// or a page that should not show it.
package portal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/i18n"
	"github.com/sspr-project/sspr/portal/phone"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/web"
	"github.com/sspr-project/sspr/portal/workflow"
)

// Directory is what the portal needs of the user directory.
// *directory.LDAP and *directory.Embedded implement it.
type Directory interface {
	// Authenticate checks username's password (registration sign-in).
	Authenticate(ctx context.Context, username, password string) (*directory.User, error)
	// SetPassword sets a new password; a policy refusal is a
	// *directory.PolicyError.
	SetPassword(ctx context.Context, username, password string) error
	// Unlock clears the account's lockout.
	Unlock(ctx context.Context, username string) (wasLocked bool, err error)
}

// Verifier places one verification call and reports its progress.
// cmd/sspr adapts ivr.Verifier and the SIP agent to it.
type Verifier interface {
	// Verify calls req.Number and returns how it ended. progress is
	// called from one goroutine at a time, never after Verify returns.
	Verify(ctx context.Context, req ivr.Request, progress func(ivr.Event)) Verification
}

// Verification is how a verification call ended, and the call's ID (the
// SIP Call-ID, for the audit log; empty when no call was placed).
type Verification struct {
	ivr.Outcome
	CallID string
}

// Question is a security question from the administrator's list.
type Question struct {
	// ID is stable: it keys the stored answers. Changing a question's
	// wording keeps its ID; a new question gets a new one.
	ID string `yaml:"id"`
	// Text is the question as shown.
	Text string `yaml:"text"`
}

// Rate is at most N events per Per.
type Rate struct {
	N   int           `yaml:"n"`
	Per time.Duration `yaml:"per"`
}

// Limits caps what one person, number, client or the whole service can
// start. A zero Rate takes its default.
type Limits struct {
	// CallsPerUser caps the calls to one user (default 5 per hour).
	CallsPerUser Rate `yaml:"calls_per_user"`
	// CallsPerNumber caps the calls to one number (default 5 per hour).
	CallsPerNumber Rate `yaml:"calls_per_number"`
	// CallsPerClient caps the calls one client address causes (default
	// 20 per hour).
	CallsPerClient Rate `yaml:"calls_per_client"`
	// CallsPerMinute is the ceiling of calls per minute for the whole
	// service (default 60).
	CallsPerMinute int `yaml:"calls_per_minute"`
	// StartsPerClient caps the resets, unlocks and sign-ins one client
	// address starts (default 30 per 10 minutes).
	StartsPerClient Rate `yaml:"starts_per_client"`
	// SignInsPerUser caps the sign-in attempts for one username (default
	// 10 per 15 minutes).
	SignInsPerUser Rate `yaml:"signins_per_user"`
}

func (r Rate) or(n int, per time.Duration) Rate {
	if r.N <= 0 {
		r.N = n
	}
	if r.Per <= 0 {
		r.Per = per
	}
	return r
}

func (l Limits) withDefaults() Limits {
	l.CallsPerUser = l.CallsPerUser.or(5, time.Hour)
	l.CallsPerNumber = l.CallsPerNumber.or(5, time.Hour)
	l.CallsPerClient = l.CallsPerClient.or(20, time.Hour)
	if l.CallsPerMinute <= 0 {
		l.CallsPerMinute = 60
	}
	l.StartsPerClient = l.StartsPerClient.or(30, 10*time.Minute)
	l.SignInsPerUser = l.SignInsPerUser.or(10, 15*time.Minute)
	return l
}

// Config configures the portal. The zero value of every field is its
// default, but for Questions, which a questions gate needs.
type Config struct {
	// Workflow lists the gates of each journey.
	Workflow workflow.Config
	// Phone says which numbers may be registered.
	Phone phone.Policy
	// Questions is the administrator's list of security questions.
	Questions []Question
	// PINMin and PINMax bound the length of a PIN (default 4 and 8).
	PINMin, PINMax int
	// AnswerMin is the shortest answer to a security question, in
	// characters after normalising (default 3).
	AnswerMin int
	// PasswordMin is the shortest new password the form accepts (default
	// 8); the directory's own policy applies on top.
	PasswordMin int
	// CodeLength is the length of the code spoken in code mode (default
	// 6), and CodeTries how many times it may be typed (default 3).
	CodeLength, CodeTries int
	// SessionTTL is how long a reset session lives (default 10 minutes).
	SessionTTL time.Duration
	// Lockout says when the reset process locks itself for a user.
	Lockout store.LockoutPolicy
	// Limits caps calls and starts.
	Limits Limits
	// CallTimeout bounds one verification call from dialling to the end
	// (default 3 minutes). A call still marked in progress after it is
	// taken as failed (its node died).
	CallTimeout time.Duration
	// DecoyRing is how long the call that is never placed, for a
	// username that is not registered, "rings" before it reports no
	// answer (default 30 s: set it to the trunks' ring timeout).
	DecoyRing time.Duration
	// Languages offered at registration (default: the catalogue's).
	Languages []string
	// Web configures the HTTP security plumbing.
	Web web.Config
	// Secret keys the choice of decoy questions for unregistered users,
	// so that every node and every attempt shows the same ones. Nodes
	// sharing a store must share it; empty: random per process.
	Secret []byte
	// Argon2 is the cost of PIN and answer hashes; zero fields take
	// DefaultArgon2's.
	Argon2 Argon2
	// APIClients are the products allowed to use the verification API
	// (docs/openapi.yaml); none: every API request is refused (401).
	APIClients []APIClient
}

// Deps are the parts the portal works with.
type Deps struct {
	Store     store.Store
	Directory Directory
	Verifier  Verifier
	// Catalogue holds the page messages; nil: i18n.Default().
	Catalogue *i18n.Catalogue
	// Logger receives the portal's logs; nil: none.
	Logger *slog.Logger
	// Registerer receives the portal's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// ErrConfig is wrapped by the errors New returns for a bad Config.
var ErrConfig = errors.New("portal: invalid config")

// Server serves the portal. It is safe for concurrent use.
type Server struct {
	cfg   Config
	st    store.Store
	dir   Directory
	ver   Verifier
	cat   *i18n.Catalogue
	log   *slog.Logger
	now   func() time.Time
	web   *web.Web
	m     *metrics
	pages *pages
	mux   *http.ServeMux
	hash  *hasher
	// node names this process in the calls it owns; live is its
	// heartbeat and what it knows of other nodes' (liveness.go).
	node string
	live *liveness
	// workflow is the gate workflow in force; SetWorkflow swaps it.
	// cfg.Workflow is the one New was given.
	workflow atomic.Pointer[workflow.Config]

	// ctx ends the calls in progress on Close; calls tracks them.
	ctx    context.Context
	cancel context.CancelFunc
	calls  sync.WaitGroup
	// bg tracks the background work (the store's sweeper).
	bg       sync.WaitGroup
	mu       sync.Mutex
	draining bool
}

// New checks cfg and returns a portal serving with deps.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Store == nil || deps.Directory == nil || deps.Verifier == nil {
		return nil, fmt.Errorf("%w: Store, Directory and Verifier are required", ErrConfig)
	}
	if err := cfg.Workflow.Validate(); err != nil {
		return nil, fmt.Errorf("%w: workflow: %w", ErrConfig, err)
	}
	if err := cfg.Phone.Validate(); err != nil {
		return nil, fmt.Errorf("%w: phone: %w", ErrConfig, err)
	}
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, st: deps.Store, dir: deps.Directory, ver: deps.Verifier, cat: deps.Catalogue, log: deps.Logger, now: deps.Now}
	if s.cat == nil {
		c, err := i18n.Default()
		if err != nil {
			return nil, err
		}
		s.cat = c
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(s.cfg.Languages) == 0 {
		s.cfg.Languages = s.cat.Languages()
	}
	if len(s.cfg.Secret) == 0 {
		s.cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(s.cfg.Secret)
	}
	var err error
	if s.web, err = web.New(cfg.Web, deps.Registerer); err != nil {
		return nil, err
	}
	if s.m, err = newMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if s.pages, err = loadPages(); err != nil {
		return nil, err
	}
	s.hash = newHasher(cfg.Argon2)
	s.node = randomToken(9)
	if s.live, err = newLiveness(deps.Registerer); err != nil {
		return nil, err
	}
	wf := s.cfg.Workflow
	s.workflow.Store(&wf)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	s.bg.Add(1)
	go s.sweep()
	s.startBeat()
	return s, nil
}

// sweepEvery is how often expired sessions and rate-limit windows are
// deleted from the store.
const sweepEvery = 5 * time.Minute

// sweep deletes what has expired from the store, now and then, until Close.
func (s *Server) sweep() {
	defer s.bg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
			if err := s.st.Sweep(ctx, s.now()); err != nil {
				s.log.Warn("portal: sweeping the store failed", "err", err)
			}
			cancel()
		}
	}
}

func (c Config) withDefaults() Config {
	if c.PINMin <= 0 {
		c.PINMin = 4
	}
	if c.PINMax <= 0 {
		c.PINMax = 8
	}
	if c.AnswerMin <= 0 {
		c.AnswerMin = 3
	}
	if c.PasswordMin <= 0 {
		c.PasswordMin = 8
	}
	if c.CodeLength <= 0 {
		c.CodeLength = ivr.DefaultCodeLength
	}
	if c.CodeTries <= 0 {
		c.CodeTries = 3
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = store.DefaultSessionTTL
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 3 * time.Minute
	}
	if c.DecoyRing <= 0 {
		c.DecoyRing = 30 * time.Second
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// ConfigError is one problem of a Config that New and Check find, with
// Key naming the setting as the configuration file does (pin_min,
// questions[2].id, api.tokens[0]).
type ConfigError struct {
	Key, Msg string
}

// Error returns "portal: invalid config: key: msg".
func (e *ConfigError) Error() string { return ErrConfig.Error() + ": " + e.Key + ": " + e.Msg }

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// Check reports, as *ConfigError values joined, the problems of c's own
// settings that New would refuse (the workflow and the phone policy have
// their own Validate). Configuration tools call it to name every problem
// before anything starts.
func (c Config) Check() error { return c.withDefaults().check() }

// check reports what withDefaults cannot fix.
func (c Config) check() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.PINMin < 4 || c.PINMax > ivr.DefaultMaxEntry || c.PINMin > c.PINMax {
		bad("pin_min", "PIN length %d to %d: want 4 <= pin_min <= pin_max <= %d", c.PINMin, c.PINMax, ivr.DefaultMaxEntry)
	}
	if c.CodeLength > ivr.MaxCodeLength {
		bad("code_length", "%d is more than %d", c.CodeLength, ivr.MaxCodeLength)
	}
	ids := map[string]bool{}
	for i, q := range c.Questions {
		key := fmt.Sprintf("questions[%d]", i)
		switch {
		case q.ID == "" || len(q.ID) > 64:
			bad(key+".id", "must be 1 to 64 characters")
		case ids[q.ID]:
			bad(key+".id", "duplicate id %q", q.ID)
		case q.Text == "":
			bad(key+".text", "empty")
		}
		ids[q.ID] = true
	}
	need := 0
	for _, j := range workflow.Journeys {
		for _, g := range c.Workflow.Gates(j) {
			if g.Kind == workflow.Questions {
				need = max(need, g.Count, g.Asked)
			}
		}
	}
	if need > len(c.Questions) {
		bad("questions", "the workflow needs %d security questions, the list has %d", need, len(c.Questions))
	}
	names, tokens := map[string]bool{}, map[string]bool{}
	for i, cl := range c.APIClients {
		key := fmt.Sprintf("api.tokens[%d]", i)
		if err := cl.Validate(); err != nil {
			bad(key, "%s", strings.TrimPrefix(err.Error(), ErrConfig.Error()+": "))
			continue
		}
		if names[cl.Name] {
			bad(key+".name", "duplicate name %q", cl.Name)
		}
		if tokens[cl.Token] {
			bad(key+".token", "the same token as another client")
		}
		names[cl.Name], tokens[cl.Token] = true, true
	}
	return errors.Join(errs...)
}

// wf returns the gate workflow in force.
func (s *Server) wf() workflow.Config { return *s.workflow.Load() }

// SetWorkflow replaces the gate workflow (a configuration reload). It
// checks c as New would and keeps the old workflow if c is wrong. New
// sessions take c at once; a session in progress keeps its journey and
// the index of its current gate, and goes on with the gates of c from
// there: if the gates before that index changed, the session may end
// (cleanly, with the "session ended" page) or skip a gate it would have
// had, so change gates when few sessions are in progress.
func (s *Server) SetWorkflow(c workflow.Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: workflow: %w", ErrConfig, err)
	}
	cfg := s.cfg
	cfg.Workflow = c
	if err := cfg.check(); err != nil {
		return err
	}
	s.workflow.Store(&c)
	return nil
}

// Handler returns the portal's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Drain stops new resets, unlocks and registrations from starting (the
// start pages answer 503); sessions in progress go on.
func (s *Server) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Wait waits, within ctx, for the calls in progress to end.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.calls.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the calls in progress and waits for their goroutines.
func (s *Server) Close() error {
	s.Drain()
	s.cancel()
	s.calls.Wait()
	s.bg.Wait()
	return nil
}
