package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal"
	"github.com/sspr-project/sspr/portal/workflow"
	"github.com/sspr-project/sspr/sip"
)

// runConfigCheck is "sspr config check --config FILE".
func runConfigCheck(_ context.Context, e *env, args []string) int {
	flags := newFlagSet("config check", "--config FILE", `
Check a configuration file without starting anything: the file is read,
every section is checked and the secrets it references are looked up,
but no directory, trunk or database is contacted. Every problem is
printed on a line of its own, starting with its path in the file; the
exit status is 1 if there is any. A good file prints "config ok".`)
	configFile := flags.String("config", "", "sspr configuration file (YAML) (required)")
	operands, status, ok := flags.parse(e, args)
	if !ok {
		return status
	}
	switch {
	case len(operands) != 0:
		return flags.usageError(e, "unexpected argument %q", operands[0])
	case *configFile == "":
		return flags.usageError(e, "--config is required")
	}
	problems := checkConfig(*configFile)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(e.stdout, p)
		}
		fmt.Fprintf(e.stderr, "sspr config check: %s: %d problem(s)\n", *configFile, len(problems))
		return exitFail
	}
	fmt.Fprintln(e.stdout, "config ok")
	return exitOK
}

// runConfigExample is "sspr config example".
func runConfigExample(_ context.Context, e *env, args []string) int {
	flags := newFlagSet("config example", "", `
Print a commented example configuration with every section and key
(the same as deploy/sspr.example.yaml).`)
	operands, status, ok := flags.parse(e, args)
	if !ok {
		return status
	}
	if len(operands) != 0 {
		return flags.usageError(e, "unexpected argument %q", operands[0])
	}
	fmt.Fprint(e.stdout, exampleConfig)
	return exitOK
}

// checkConfig loads the configuration file name as serve does and checks
// what serve would find wrong when starting, without contacting anything.
// It returns every problem, one line each.
func checkConfig(name string) []string {
	sc, err := loadServeConfig(name)
	problems := errorLines(err)
	if sc == nil {
		return problems
	}
	discard := slog.New(slog.DiscardHandler)
	fc := sc.file
	// The directory: opening an LDAP directory checks its settings and
	// reads its files but does not connect; the embedded one reads its
	// users file.
	if fc.Directory.Type != "" {
		if _, closeDir, err := fc.Directory.open(discard, prometheus.NewRegistry()); err != nil {
			problems = append(problems, errorLines(prefix("directory", err))...)
		} else {
			closeDir()
		}
	}
	// The SIP agent checks its trunks and listeners when made; it binds
	// nothing until it runs.
	if agent, err := fc.SIP.agentConfig(); err == nil && len(agent.Trunks) > 0 {
		if a, err := sip.New(agent, discard, prometheus.NewRegistry()); err != nil {
			problems = append(problems, errorLines(prefix("sip", err))...)
		} else {
			_ = a.Close()
		}
	}
	if sc.prompts != nil {
		if _, err := ivr.New(ivr.Config{Prompts: sc.prompts, FirstKeyTimeout: fc.IVR.FirstKeyTimeout,
			InterDigitTimeout: fc.IVR.InterDigitTimeout}, nil); err != nil {
			problems = append(problems, errorLines(prefix("ivr", err))...)
		}
	}
	return problems
}

// prefix returns err with "section: " in front, unless its message
// already names the section.
func prefix(section string, err error) error {
	if strings.HasPrefix(err.Error(), section) {
		return err
	}
	return fmt.Errorf("%s: %w", section, err)
}

// errorLines returns the messages of the errors err joins, recursively,
// one line each.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	var out []string
	for l := range strings.SplitSeq(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "yaml: unmarshal errors:" {
			out = append(out, l)
		}
	}
	return out
}

// promptSetter and workflowSetter are what SIGHUP reloads: the
// verifier's prompts and the portal's workflow.
type (
	promptSetter   interface{ SetPrompts(*ivr.Prompts) error }
	workflowSetter interface{ SetWorkflow(workflow.Config) error }
)

var (
	_ promptSetter   = (*ivr.Verifier)(nil)
	_ workflowSetter = (*portal.Server)(nil)
)

// reloadConfig reads the configuration file again and applies its
// prompts and workflow; if the file has problems, they are logged and
// the configuration in force stays.
func reloadConfig(log *slog.Logger, path string, iv promptSetter, p workflowSetter) error {
	sc, err := loadServeConfig(path)
	if err != nil {
		for _, l := range errorLines(err) {
			log.Error("reload: configuration problem; keeping the configuration in force", "problem", l)
		}
		return err
	}
	// The prompts first: their check (every mode's recordings) is the one
	// the file check does not make, so a refusal leaves both as they were.
	if err := iv.SetPrompts(sc.prompts); err != nil {
		log.Error("reload: prompts refused; keeping the configuration in force", "err", err)
		return err
	}
	if err := p.SetWorkflow(sc.portal.cfg.Workflow); err != nil {
		log.Error("reload: workflow refused; keeping the workflow in force", "err", err)
		return err
	}
	log.Info("reload: prompts and workflow reloaded", "config", path)
	return nil
}

// errNoConfigFile is returned by a reload when serve has no file to read.
var errNoConfigFile = errors.New("reload: no configuration file")

// watchReload reloads the prompts and the workflow on every SIGHUP until
// the returned function is called.
func watchReload(log *slog.Logger, path string, iv *ivr.Verifier, p *portal.Server) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-done:
				return
			case <-hup:
				log.Info("SIGHUP: reloading the prompts and the workflow")
				if path == "" {
					log.Error("reload failed", "err", errNoConfigFile)
					continue
				}
				_ = reloadConfig(log, path, iv, p)
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-ended
	}
}

// exampleConfig is what "sspr config example" prints: the same text as
// deploy/sspr.example.yaml (a test keeps them equal).
const exampleConfig = `# sspr configuration: every section and key, with its default or an
# example value. Check a file with: sspr config check --config FILE
#
# Secrets are never written here: a value ${NAME} is read from the
# environment variable NAME, and a key ending in _file names a file that
# holds the secret. Durations are Go durations: 500ms, 30s, 10m, 1h.
# Keys shown commented out are optional; the value shown is an example.

# sip: the SIP user agent that places the verification calls.
sip:
  # listen: the local SIP sockets (transport udp, tcp or tls; port 0
  # picks a free one). tls needs cert_file and key_file.
  listen:
    - transport: udp
      addr: 0.0.0.0:5060
    - transport: tcp
      addr: 0.0.0.0:5060
    # - transport: tls
    #   addr: 0.0.0.0:5061
    #   cert_file: /etc/sspr/sip.crt
    #   key_file: /etc/sspr/sip.key
  # advertise: the host or address put in Via and Contact when the
  # listening address is not reachable (NAT).
  advertise: sspr.example.org
  # user_agent: the User-Agent header.
  user_agent: sspr
  # ring_timeout: how long a call rings before it counts as not answered.
  ring_timeout: 30s
  # trunk_timeout: how long a trunk may take to answer an INVITE before
  # the next trunk is tried.
  trunk_timeout: 5s
  # trunks: the ITSPs or PBXs, tried in order; at least one.
  trunks:
    - name: itsp
      # address: the trunk's SIP URI or host:port.
      address: sip:sip.itsp.example.net:5060
      # transport: udp, tcp or tls (default: the URI's, or udp).
      transport: udp
      # ca_file and server_name: for tls, the CA to trust and the name
      # the certificate must carry.
      # ca_file: /etc/sspr/itsp-ca.pem
      # server_name: sip.itsp.example.net
      # outbound_proxy: send every request through this proxy.
      # outbound_proxy: sip:proxy.example.net:5060
      # username, password (or password_file) and realm: digest
      # credentials for the trunk.
      username: sspr
      password: ${SIP_TRUNK_PASSWORD}
      # password_file: /run/secrets/sip-trunk-password
      realm: itsp.example.net
      # from_user and from_domain: the From header's user and domain.
      from_user: sspr
      from_domain: itsp.example.net
      # caller_name and caller_number: what the person's phone shows.
      caller_name: IT Service Desk
      caller_number: "+442079460000"
      # register: keep a registration with the trunk, renewed every
      # register_expiry.
      register: false
      register_expiry: 1h
      # keepalive: how often the trunk is sent OPTIONS to check that it is
      # up (readiness needs one trunk up); a negative value turns it off.
      keepalive: 30s
  # media: the RTP side of the calls.
  media:
    # bind_ip and advertise_ip: where RTP is received, and the address
    # put in the SDP when that one is not reachable.
    bind_ip: 0.0.0.0
    advertise_ip: 203.0.113.10
    # port_min and port_max: the RTP port range (even ports).
    port_min: 20000
    port_max: 20999
    # event_pt: the RFC 4733 telephone-event payload type offered.
    event_pt: 101
    # inactivity: a call with no RTP for this long is hung up.
    inactivity: 10s
    # latch: send RTP to where the far end's RTP comes from (NAT).
    latch: false

# ivr: what a verification call says and how long it waits for keys.
ivr:
  # prompts: a directory of recordings (<language>/<name>.wav, 8 kHz
  # mono) replacing or adding to the built-in prompts. SIGHUP reloads it.
  # prompts: /etc/sspr/prompts
  # language: the calls' default language.
  language: en
  # first_key_timeout: the wait for the first key after a prompt.
  first_key_timeout: 8s
  # inter_digit_timeout: the wait for each next key of an entry.
  inter_digit_timeout: 4s

# directory: where the accounts are. type is ad, openldap or embedded.
directory:
  type: openldap
  # urls: ldaps:// (or ldap:// with start_tls), tried in order.
  urls: [ldaps://ldap1.example.org, ldaps://ldap2.example.org]
  start_tls: false
  # ca_file and server_name: the CA to trust and the certificate's name.
  # ca_file: /etc/sspr/ldap-ca.pem
  # server_name: ldap.example.org
  # insecure_plain: allow ldap:// without TLS (tests only).
  insecure_plain: false
  # bind_dn and bind_password (only as ${ENV_VAR}) or bind_password_file:
  # the service account that resets passwords and unlocks accounts.
  bind_dn: cn=sspr,ou=services,dc=example,dc=org
  bind_password: ${LDAP_PASSWORD}
  # bind_password_file: /run/secrets/ldap-password
  base_dn: dc=example,dc=org
  # user_filter: finds a user; {username} is replaced by the escaped
  # username (default by type).
  user_filter: (&(objectClass=inetOrgPerson)(uid={username}))
  # username_attr, display_name_attr, mail_attr, phone_attrs and
  # language_attr: the attributes read (defaults by type).
  username_attr: uid
  display_name_attr: cn
  mail_attr: mail
  phone_attrs: [mobile, telephoneNumber]
  language_attr: preferredLanguage
  # policy_dn: the ppolicy entry (openldap) whose rules apply.
  # policy_dn: cn=default,ou=policies,dc=example,dc=org
  # dial_timeout and op_timeout bound a connection and one operation.
  dial_timeout: 5s
  op_timeout: 10s
  # pool_size: connections kept open.
  pool_size: 4
  # must_change_after_reset: the person must change the password at the
  # next sign-in; clear_must_change: a reset clears that flag instead.
  must_change_after_reset: false
  clear_must_change: false
  # file: the users file of type embedded (demos and tests).
  # file: /var/lib/sspr/users.yaml

# store: where the portal keeps sessions, registrations, limits and the
# audit trail. One of sqlite (one node) and postgres (several nodes).
store:
  sqlite: /var/lib/sspr/sspr.db
  # postgres: ${SSPR_POSTGRES_DSN}
  # postgres_file: /run/secrets/sspr-postgres-dsn

# portal: the web pages, their workflow and their limits.
portal:
  # listen: the portal's address; tls_cert and tls_key serve HTTPS.
  listen: 0.0.0.0:8080
  # tls_cert: /etc/sspr/portal.crt
  # tls_key: /etc/sspr/portal.key
  # trusted_proxies: reverse proxies whose X-Forwarded-* are believed;
  # behind_tls_proxy: such a proxy terminates TLS (cookies get Secure).
  trusted_proxies: [10.0.0.0/8]
  behind_tls_proxy: true
  # workflow: the gates of each journey, in order. SIGHUP reloads it;
  # sessions in progress go on against the new one (changing the gates
  # before a session's current one may end that session).
  workflow:
    register:
      - gate: password
      - gate: phone
        mode: match
        attempts: 2
      - gate: pin
      - gate: questions
        count: 3
      - gate: language
    reset:
      - gate: phone
        mode: pin
        attempts: 3
      - gate: questions
        asked: 2
        must_be_right: 2
    unlock:
      - gate: phone
        mode: confirm
  # phone: which numbers may be registered.
  phone:
    countries: [GB, DE, US]
    default_region: GB
    types: [mobile, fixed-line, fixed-line-or-mobile]
  # questions: the security questions offered.
  questions:
    - {id: pet, text: "What was the name of your first pet?"}
    - {id: city, text: "In which city were you born?"}
    - {id: school, text: "What was the name of your first school?"}
    - {id: street, text: "On which street did you grow up?"}
  # pin_min and pin_max: a PIN's length; answer_min: an answer's;
  # password_min: a new password's (the directory's policy applies too).
  pin_min: 4
  pin_max: 8
  answer_min: 3
  password_min: 8
  # code_length and code_tries: the code mode's code.
  code_length: 6
  code_tries: 3
  # session_ttl: how long a session lives.
  session_ttl: 10m
  # lockout: after max_failures failed attempts the reset process locks
  # itself for the user for duration; after max_lockouts, until cleared.
  lockout:
    max_failures: 5
    duration: 30m
    max_lockouts: 3
  # limits: calls and starts, each {n: COUNT, per: DURATION}.
  limits:
    calls_per_user: {n: 5, per: 1h}
    calls_per_number: {n: 5, per: 1h}
    calls_per_client: {n: 10, per: 1h}
    calls_per_minute: 60
    starts_per_client: {n: 30, per: 10m}
    signins_per_user: {n: 10, per: 15m}
  # call_timeout: bounds one verification call; decoy_ring: how long the
  # call that is never placed (unregistered user) "rings".
  call_timeout: 3m
  decoy_ring: 30s
  # secret (or secret_file): keys the decoys; nodes sharing a store must
  # share it.
  secret: ${SSPR_SECRET}
  # secret_file: /run/secrets/sspr-secret
  # languages: offered at registration (default: every language).
  languages: [en, de]
  # messages: a directory of <lang>.yaml files overriding the pages' texts.
  # messages: /etc/sspr/messages
  # argon2: the cost of PIN and answer hashes.
  argon2:
    memory_kib: 65536
    time: 3
    threads: 2
  # max_body: the largest request body, in bytes.
  max_body: 65536
  # api: the verification API for other products (docs/openapi.yaml).
  # Each client has a name (audit records, call caps) and a bearer token
  # of at least 32 characters; no tokens: every API request gets 401.
  api:
    tokens: []
    # tokens:
    #   - name: mim
    #     token: ${SSPR_API_TOKEN_MIM}
    #   - name: pwm
    #     token_file: /etc/sspr/api-token-pwm
`
