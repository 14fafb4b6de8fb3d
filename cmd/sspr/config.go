package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sspr-project/sspr/portal"
	"github.com/sspr-project/sspr/portal/i18n"
	"github.com/sspr-project/sspr/portal/phone"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/web"
	"github.com/sspr-project/sspr/portal/workflow"
	"github.com/sspr-project/sspr/sip"
	"github.com/sspr-project/sspr/sip/media"
)

// fileConfig is the sspr configuration file (YAML). Secrets may be given
// as ${NAME} (an environment variable) or through a *_file key naming a
// file that holds them.
type fileConfig struct {
	SIP       sipConfig       `yaml:"sip"`
	IVR       ivrConfig       `yaml:"ivr"`
	Directory directoryConfig `yaml:"directory"`
	Portal    portalConfig    `yaml:"portal"`
	Store     storeConfig     `yaml:"store"`
}

// ivrConfig is the ivr section: what the verification call says and how
// long it waits.
type ivrConfig struct {
	// Prompts is a directory of recordings (<language>/<name>.wav) that
	// replace or add to the built-in prompts.
	Prompts           string        `yaml:"prompts"`
	Language          string        `yaml:"language"`
	FirstKeyTimeout   time.Duration `yaml:"first_key_timeout"`
	InterDigitTimeout time.Duration `yaml:"inter_digit_timeout"`
}

// sipConfig is the sip section: the user agent, its trunks and its media.
type sipConfig struct {
	Listen       []listenConfig `yaml:"listen"`
	Advertise    string         `yaml:"advertise"`
	UserAgent    string         `yaml:"user_agent"`
	RingTimeout  time.Duration  `yaml:"ring_timeout"`
	TrunkTimeout time.Duration  `yaml:"trunk_timeout"`
	Trunks       []trunkConfig  `yaml:"trunks"`
	Media        mediaConfig    `yaml:"media"`
}

type listenConfig struct {
	Transport string `yaml:"transport"`
	Addr      string `yaml:"addr"`
	CertFile  string `yaml:"cert_file"`
	KeyFile   string `yaml:"key_file"`
}

type trunkConfig struct {
	Name           string        `yaml:"name"`
	Address        string        `yaml:"address"`
	Transport      string        `yaml:"transport"`
	CAFile         string        `yaml:"ca_file"`
	ServerName     string        `yaml:"server_name"`
	OutboundProxy  string        `yaml:"outbound_proxy"`
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	PasswordFile   string        `yaml:"password_file"`
	Realm          string        `yaml:"realm"`
	FromUser       string        `yaml:"from_user"`
	FromDomain     string        `yaml:"from_domain"`
	CallerName     string        `yaml:"caller_name"`
	CallerNumber   string        `yaml:"caller_number"`
	Register       bool          `yaml:"register"`
	RegisterExpiry time.Duration `yaml:"register_expiry"`
	KeepAlive      time.Duration `yaml:"keepalive"`
}

type mediaConfig struct {
	BindIP      string        `yaml:"bind_ip"`
	AdvertiseIP string        `yaml:"advertise_ip"`
	PortMin     int           `yaml:"port_min"`
	PortMax     int           `yaml:"port_max"`
	EventPT     uint8         `yaml:"event_pt"`
	Inactivity  time.Duration `yaml:"inactivity"`
	Latch       bool          `yaml:"latch"`
}

// loadConfig reads and parses a configuration file. Unknown keys are
// errors, so that a misspelt setting is not silently ignored.
func loadConfig(name string) (*fileConfig, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return parseConfig(data)
}

func parseConfig(data []byte) (*fileConfig, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c fileConfig
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &c, nil
}

// expandSecret returns v with ${NAME} replaced by the environment
// variable NAME, or the trimmed content of file when v is empty.
func expandSecret(v, file, field string) (string, error) {
	if v != "" && file != "" {
		return "", fmt.Errorf("%s and %s_file are both set", field, field)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", field, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") {
		name := v[2 : len(v)-1]
		s, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("%s: environment variable %s is not set", field, name)
		}
		return s, nil
	}
	return v, nil
}

// sipConfig converts the sip section into the agent's configuration. It
// reports every problem, each with its path.
func (c *sipConfig) agentConfig() (sip.Config, error) {
	var errs []error
	out := sip.Config{
		Advertise:    c.Advertise,
		UserAgent:    c.UserAgent,
		RingTimeout:  c.RingTimeout,
		TrunkTimeout: c.TrunkTimeout,
	}
	for _, l := range c.Listen {
		out.Listen = append(out.Listen, sip.Listener{Transport: l.Transport, Addr: l.Addr, CertFile: l.CertFile, KeyFile: l.KeyFile})
	}
	for i, t := range c.Trunks {
		pw, err := expandSecret(t.Password, t.PasswordFile, fmt.Sprintf("sip.trunks[%d].password", i))
		if err != nil {
			errs = append(errs, err)
		}
		out.Trunks = append(out.Trunks, sip.Trunk{
			Name: t.Name, Address: t.Address, Transport: t.Transport, CAFile: t.CAFile, ServerName: t.ServerName,
			OutboundProxy: t.OutboundProxy, Username: t.Username, Password: pw, Realm: t.Realm,
			FromUser: t.FromUser, FromDomain: t.FromDomain, CallerName: t.CallerName, CallerNumber: t.CallerNumber,
			Register: t.Register, RegisterExpiry: t.RegisterExpiry, KeepAlive: t.KeepAlive,
		})
	}
	m := media.Config{PortMin: c.Media.PortMin, PortMax: c.Media.PortMax, EventPT: c.Media.EventPT,
		Inactivity: c.Media.Inactivity, Latch: c.Media.Latch}
	for _, ip := range []struct {
		s    string
		dst  *netip.Addr
		name string
	}{{c.Media.BindIP, &m.BindIP, "bind_ip"}, {c.Media.AdvertiseIP, &m.AdvertiseIP, "advertise_ip"}} {
		if ip.s == "" {
			continue
		}
		a, err := netip.ParseAddr(ip.s)
		if err != nil {
			errs = append(errs, fmt.Errorf("sip.media.%s: %w", ip.name, err))
			continue
		}
		*ip.dst = a
	}
	out.Media = m
	return out, errors.Join(errs...)
}

// storeConfig is the store section: where the portal keeps its state.
// Exactly one of SQLite and Postgres; neither means SQLite in sspr.db in
// the working directory.
type storeConfig struct {
	// SQLite is the path of the SQLite database file (one node).
	SQLite string `yaml:"sqlite"`
	// Postgres is the PostgreSQL DSN (several nodes); ${NAME} reads it
	// from the environment, postgres_file from a file.
	Postgres     string `yaml:"postgres"`
	PostgresFile string `yaml:"postgres_file"`
}

// defaultSQLite is the SQLite file used when the store section is empty.
const defaultSQLite = "sspr.db"

// storeOpener opens the configured store.
type storeOpener func(ctx context.Context) (*store.DB, error)

// opener checks the store section and returns what opens it.
func (c *storeConfig) opener() (storeOpener, error) {
	pg := c.Postgres != "" || c.PostgresFile != ""
	if c.SQLite != "" && pg {
		return nil, errors.New("store: set one of store.sqlite and store.postgres, not both")
	}
	if !pg {
		path := c.SQLite
		if path == "" {
			path = defaultSQLite
		}
		return func(ctx context.Context) (*store.DB, error) { return store.OpenSQLite(ctx, path) }, nil
	}
	dsn, err := expandSecret(c.Postgres, c.PostgresFile, "store.postgres")
	if err != nil {
		return nil, err
	}
	if dsn == "" {
		return nil, errors.New("store.postgres: empty DSN")
	}
	return func(ctx context.Context) (*store.DB, error) { return store.OpenPostgres(ctx, dsn) }, nil
}

// portalConfig is the portal section: the web pages, their workflow and
// their limits. Zero values take the portal's defaults.
type portalConfig struct {
	// Listen is the portal's HTTP address (default 127.0.0.1:8080; port 0
	// picks a free one).
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey (PEM files) serve HTTPS when both are set.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// TrustedProxies are the CIDRs (or addresses) of reverse proxies
	// whose X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// BehindTLSProxy says a trusted proxy terminates TLS for the portal:
	// cookies get Secure.
	BehindTLSProxy bool `yaml:"behind_tls_proxy"`
	// Workflow lists the gates of register, reset and unlock.
	Workflow workflow.Config `yaml:"workflow"`
	// Phone says which numbers may be registered.
	Phone phonePolicyConfig `yaml:"phone"`
	// Questions is the list of security questions.
	Questions []portal.Question `yaml:"questions"`
	// PINMin and PINMax bound a PIN's length; AnswerMin an answer's;
	// PasswordMin a new password's.
	PINMin      int `yaml:"pin_min"`
	PINMax      int `yaml:"pin_max"`
	AnswerMin   int `yaml:"answer_min"`
	PasswordMin int `yaml:"password_min"`
	// CodeLength and CodeTries: the code mode's code.
	CodeLength int `yaml:"code_length"`
	CodeTries  int `yaml:"code_tries"`
	// SessionTTL is how long a reset session lives.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// Lockout says when the reset process locks itself for a user.
	Lockout lockoutConfig `yaml:"lockout"`
	// Limits caps calls and starts.
	Limits portal.Limits `yaml:"limits"`
	// CallTimeout bounds one verification call; DecoyRing is how long the
	// call that is never placed "rings".
	CallTimeout time.Duration `yaml:"call_timeout"`
	DecoyRing   time.Duration `yaml:"decoy_ring"`
	// Secret keys the decoys (nodes sharing a store must share it);
	// ${NAME} reads it from the environment, secret_file from a file.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Languages offered at registration (default: the catalogue's).
	Languages []string `yaml:"languages"`
	// Messages is a directory of <lang>.yaml message files that override
	// or add to the built-in catalogue.
	Messages string `yaml:"messages"`
	// Argon2 is the cost of PIN and answer hashes.
	Argon2 portal.Argon2 `yaml:"argon2"`
	// MaxBody caps request bodies, in bytes.
	MaxBody int64 `yaml:"max_body"`
	// API configures the verification API for other products.
	API apiConfig `yaml:"api"`
}

// apiConfig is portal.api: the clients of the verification API.
type apiConfig struct {
	Tokens []apiTokenConfig `yaml:"tokens"`
}

// apiTokenConfig is one API client: its name and bearer token (${NAME}
// reads it from the environment, token_file from a file).
type apiTokenConfig struct {
	Name      string `yaml:"name"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
}

// phonePolicyConfig is portal.phone: phone.Policy in the file's words.
type phonePolicyConfig struct {
	Countries     []string `yaml:"countries"`
	DefaultRegion string   `yaml:"default_region"`
	Types         []string `yaml:"types"`
}

// lockoutConfig is portal.lockout: store.LockoutPolicy in the file's
// words.
type lockoutConfig struct {
	MaxFailures int           `yaml:"max_failures"`
	Duration    time.Duration `yaml:"duration"`
	MaxLockouts int           `yaml:"max_lockouts"`
}

// defaultPortalListen is the portal's address when portal.listen is empty.
const defaultPortalListen = "127.0.0.1:8080"

// portalSettings is the portal section made ready to serve.
type portalSettings struct {
	cfg       portal.Config
	catalogue *i18n.Catalogue // nil: the built-in one
	listen    string
	tlsCert   string
	tlsKey    string
}

// settings checks the portal section and converts it. Errors name the
// setting's path in the file: portal.workflow.reset[1].mode.
func (c *portalConfig) settings() (*portalSettings, error) {
	s := &portalSettings{listen: c.Listen, tlsCert: c.TLSCert, tlsKey: c.TLSKey}
	if s.listen == "" {
		s.listen = defaultPortalListen
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(s.listen); err != nil {
		bad("portal.listen %q: %v", s.listen, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("portal.tls_cert and portal.tls_key: set both or neither")
	}
	var proxies []netip.Prefix
	for i, p := range c.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			bad("portal.trusted_proxies[%d]: %v", i, err)
			continue
		}
		proxies = append(proxies, pfx)
	}
	if err := c.Workflow.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var fe *workflow.FieldError
			if errors.As(e, &fe) {
				bad("portal.workflow.%s: %s", fe.Path, fe.Msg)
			} else {
				bad("portal.workflow: %v", e)
			}
		}
	}
	pol := phone.Policy{Countries: c.Phone.Countries, DefaultRegion: c.Phone.DefaultRegion, Types: c.Phone.Types}
	if err := pol.Validate(); err != nil {
		bad("portal.phone: %v", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"session_ttl", c.SessionTTL}, {"call_timeout", c.CallTimeout}, {"decoy_ring", c.DecoyRing}, {"lockout.duration", c.Lockout.Duration}} {
		if d.v < 0 {
			bad("portal.%s %v: must not be negative", d.name, d.v)
		}
	}
	secret, err := expandSecret(c.Secret, c.SecretFile, "portal.secret")
	if err != nil {
		errs = append(errs, err)
	}
	var apiClients []portal.APIClient
	for i, t := range c.API.Tokens {
		path := fmt.Sprintf("portal.api.tokens[%d]", i)
		tok, err := expandSecret(t.Token, t.TokenFile, path+".token")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cl := portal.APIClient{Name: t.Name, Token: tok}
		if err := cl.Validate(); err != nil {
			bad("%s: %v", path, err)
		}
		apiClients = append(apiClients, cl)
	}
	if c.Messages != "" {
		cat, err := i18n.Load(c.Messages, nil)
		if err != nil {
			bad("portal.messages: %w", err)
		}
		s.catalogue = cat
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.cfg = portal.Config{
		Workflow: c.Workflow, Phone: pol, Questions: c.Questions,
		PINMin: c.PINMin, PINMax: c.PINMax, AnswerMin: c.AnswerMin, PasswordMin: c.PasswordMin,
		CodeLength: c.CodeLength, CodeTries: c.CodeTries, SessionTTL: c.SessionTTL,
		Lockout:     store.LockoutPolicy{MaxFailures: c.Lockout.MaxFailures, Duration: c.Lockout.Duration, MaxLockouts: c.Lockout.MaxLockouts},
		Limits:      c.Limits,
		CallTimeout: c.CallTimeout, DecoyRing: c.DecoyRing, Languages: c.Languages,
		Web:    web.Config{TrustedProxies: proxies, TLS: c.BehindTLSProxy || c.TLSCert != "", MaxBody: c.MaxBody},
		Argon2: c.Argon2,
	}
	s.cfg.APIClients = apiClients
	if secret != "" {
		s.cfg.Secret = []byte(secret)
	}
	// What the portal itself would refuse at start, named by key.
	if err := s.cfg.Check(); err != nil {
		for _, e := range unjoin(err) {
			var ce *portal.ConfigError
			if errors.As(e, &ce) {
				bad("portal.%s: %s", ce.Key, ce.Msg)
			} else {
				bad("portal: %v", e)
			}
		}
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// parsePrefix reads a CIDR, or an address as the prefix of that address
// alone.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unjoin returns the errors err joins, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
