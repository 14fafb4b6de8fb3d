package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/sip"
)

// callResult is what `sspr call` reports. Outcome is one word of a closed
// set: the sip package's call outcomes plus the input results.
type callResult struct {
	Outcome      string   `json:"outcome"`
	Mode         string   `json:"mode"`
	Digits       string   `json:"digits"`
	Expected     string   `json:"expected"`
	Match        string   `json:"match,omitempty"`
	Code         string   `json:"code,omitempty"`
	Methods      []string `json:"methods,omitempty"`
	SIPStatus    int      `json:"sip_status,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	Trunk        string   `json:"trunk,omitempty"`
	CallID       string   `json:"call_id,omitempty"`
	SetupMS      int64    `json:"setup_ms,omitempty"`
	FirstDigitMS int64    `json:"first_digit_ms,omitempty"`
	DurationMS   int64    `json:"duration_ms"`
	Error        string   `json:"error,omitempty"`
}

func runCall(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet("call", "[flags] NUMBER", `
Place one verification call to NUMBER through a trunk, as the reset
service does, and print how it went: confirmed, code-delivered,
fraud-reported, wrong-input, no-input, no-answer, busy, rejected,
unreachable, hung-up, media-timeout or failed. Exit status 0 only when the
keys pressed equal --expect (in code mode: when the code was delivered).

--mode picks the conversation: confirm (press #), pin (key the PIN, then
#), match (key the digits shown, then #) or code (press # to hear a code).
Without --mode: confirm when --expect is #, else pin. --expect is the whole
key sequence, closing # included: a PIN is 4827#, match digits 37#; in
match mode without --expect, random digits are chosen and printed.

The trunk comes from --config (the sip section of an sspr configuration
file) or from --trunk and the flags after it. The password may also be
given in the environment variable SSPR_TRUNK_PASSWORD.`)
	configFile := flags.String("config", "", "sspr configuration file (YAML) whose sip section to use")
	trunkAddr := flags.String("trunk", "", "trunk address: sip:HOST:PORT or HOST:PORT")
	transport := flags.String("transport", "udp", "transport to the trunk: udp, tcp or tls")
	user := flags.String("user", "", "digest user name")
	password := flags.String("password", "", "digest password")
	caFile := flags.String("ca-file", "", "CA certificates (PEM) for a TLS trunk")
	listen := flags.String("listen", "127.0.0.1:0", "local SIP address (with --trunk)")
	callerID := flags.String("caller-id", "", "caller number to present")
	mode := flags.String("mode", "", "confirm, pin, match or code (see above)")
	language := flags.String("language", "", "language of the prompts (default: the prompt set's)")
	promptDir := flags.String("prompts", "", "directory of recordings replacing or adding to the built-in prompts")
	expect := flags.String("expect", "", "the whole key sequence expected, closing # included (default #)")
	attempts := flags.Int("attempts", 1, "entries the callee gets")
	timeout := flags.Duration("timeout", 30*time.Second, "how long to ring, and then how long to wait for the first key")
	asJSON := flags.Bool("json", false, "print the result as one JSON object")
	verbose := flags.Bool("verbose", false, "log the call's progress to standard error")
	operands, status, ok := flags.parse(e, args)
	if !ok {
		return status
	}
	switch {
	case len(operands) != 1:
		return flags.usageError(e, "want exactly one NUMBER")
	case *timeout <= 0:
		return flags.usageError(e, "--timeout %v: must be positive", *timeout)
	case *attempts <= 0:
		return flags.usageError(e, "--attempts %d: must be positive", *attempts)
	case *configFile == "" && *trunkAddr == "":
		return flags.usageError(e, "--config or --trunk is required")
	}
	for i := 0; i < len(*expect); i++ {
		if !dtmf.ValidKey((*expect)[i]) {
			return flags.usageError(e, "--expect: %q is not a DTMF key", (*expect)[i])
		}
	}
	req, expected, err := callRequest(*mode, *expect)
	if err != nil {
		return flags.usageError(e, "%v", err)
	}
	req.Number, req.Language, req.Attempts = operands[0], *language, *attempts

	cfg, icfg, err := callConfig(*configFile, *trunkAddr, *transport, *user, *password, *caFile, *listen, *callerID)
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr call: %v\n", err)
		return exitUsage
	}
	cfg.RingTimeout = *timeout
	// Flags win over the file.
	if *promptDir == "" {
		*promptDir = icfg.Prompts
	}
	if req.Language == "" {
		req.Language = icfg.Language
	}
	prompts, err := ivr.DefaultPrompts()
	if err == nil && *promptDir != "" {
		prompts, err = ivr.LoadPrompts(*promptDir, prompts)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr call: prompts: %v\n", err)
		return exitUsage
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	res := placeCall(ctx, cfg, ivr.Config{Prompts: prompts, FirstKeyTimeout: *timeout,
		InterDigitTimeout: icfg.InterDigitTimeout, Logger: log}, log, req, expected)
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		fmt.Fprintln(e.stdout, res.String())
	}
	if res.Outcome == string(ivr.Confirmed) || res.Outcome == string(ivr.CodeDelivered) {
		return exitOK
	}
	return exitFail
}

// callRequest builds the verification of --mode and --expect, and returns
// the key sequence that passes.
func callRequest(mode, expect string) (ivr.Request, string, error) {
	if mode == "" {
		mode = string(ivr.ModeConfirm)
		if expect != "" && expect != "#" {
			mode = string(ivr.ModePIN)
		}
	}
	m, err := ivr.ParseMode(mode)
	if err != nil {
		return ivr.Request{}, "", fmt.Errorf("--mode: %w", err)
	}
	req := ivr.Request{Mode: m}
	body, hasPound := strings.CutSuffix(expect, "#")
	switch m {
	case ivr.ModeConfirm, ivr.ModeCode:
		if expect != "" && expect != "#" {
			return req, "", fmt.Errorf("--expect %q: %s mode expects #", expect, m)
		}
		if m == ivr.ModeCode {
			req.Code = ivr.NewCode(0)
		}
		return req, "#", nil
	case ivr.ModePIN:
		if !hasPound || body == "" || strings.ContainsAny(body, "*#ABCD") {
			return req, "", fmt.Errorf("--expect %q: pin mode wants the PIN's digits, then # (4827#)", expect)
		}
		req.CheckPIN = func(pin string) bool { return pin == body }
		return req, expect, nil
	}
	// Match mode.
	if expect == "" {
		body = ivr.NewMatch()
		expect = body + "#"
	} else if !hasPound || body == "" || strings.ContainsAny(body, "0*#ABCD") {
		return req, "", fmt.Errorf("--expect %q: match mode wants digits 1-9, then # (37#)", expect)
	}
	req.Match = body
	return req, expect, nil
}

// callConfig builds the agent's configuration, and reads the ivr
// section, from a file or from flags.
func callConfig(file, trunkAddr, transport, user, password, caFile, listen, callerID string) (sip.Config, ivrConfig, error) {
	var (
		cfg  sip.Config
		icfg ivrConfig
	)
	if file != "" {
		fc, err := loadConfig(file)
		if err != nil {
			return cfg, icfg, fmt.Errorf("--config: %w", err)
		}
		if cfg, err = fc.SIP.agentConfig(); err != nil {
			return cfg, icfg, fmt.Errorf("--config %s: %w", file, err)
		}
		icfg = fc.IVR
	}
	if trunkAddr == "" {
		return cfg, icfg, nil
	}
	if password == "" {
		password = envPassword()
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return cfg, icfg, fmt.Errorf("--listen %q: %w", listen, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return cfg, icfg, fmt.Errorf("--listen %q: want an IP address: %w", listen, err)
	}
	// A TLS call needs no certificate of its own: listen on UDP, and let
	// the TLS connection carry the call's requests both ways.
	lt := transport
	if lt == "tls" {
		lt = "udp"
	}
	cfg.Listen = []sip.Listener{{Transport: lt, Addr: listen}}
	cfg.Trunks = []sip.Trunk{{
		Name: "cli", Address: trunkAddr, Transport: transport, CAFile: caFile,
		Username: user, Password: password, CallerNumber: callerID, KeepAlive: -1,
	}}
	if !cfg.Media.BindIP.IsValid() {
		cfg.Media.BindIP = ip
	}
	return cfg, icfg, nil
}

// envPassword returns the trunk password from the environment, so that
// it need not appear on the command line.
func envPassword() string { return os.Getenv("SSPR_TRUNK_PASSWORD") }

// placeCall runs one verification call and reports it.
func placeCall(ctx context.Context, cfg sip.Config, icfg ivr.Config, log *slog.Logger, req ivr.Request, expect string) callResult {
	start := time.Now()
	res := callResult{Mode: string(req.Mode), Expected: expect, Match: req.Match, Code: req.Code}
	finish := func() callResult {
		res.DurationMS = time.Since(start).Milliseconds()
		return res
	}
	agent, err := sip.New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		res.Outcome, res.Error = string(ivr.Failed), err.Error()
		return finish()
	}
	defer agent.Close()
	verifier, err := ivr.New(icfg, prometheus.NewRegistry())
	if err != nil {
		res.Outcome, res.Error = string(ivr.Failed), err.Error()
		return finish()
	}
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- agent.Run(runCtx) }()
	defer func() {
		stop()
		<-ran
	}()
	select {
	case <-agent.Ready():
	case err := <-ran:
		res.Outcome, res.Error = string(ivr.Failed), fmt.Sprint(err)
		return finish()
	}

	d := &dialer{agent: agent, opts: sip.DialOptions{RingTimeout: cfg.RingTimeout}}
	out := verifier.Verify(ctx, d, req, nil)
	res.Outcome, res.SIPStatus = string(out.Result), out.Status
	res.SetupMS, res.FirstDigitMS = out.Setup.Milliseconds(), out.KeyLatency.Milliseconds()
	var de *ivr.DialError
	if errors.As(out.Err, &de) {
		var ce *sip.CallError
		if errors.As(de.Err, &ce) {
			res.Reason, res.Trunk = ce.Reason, ce.Trunk
		}
	}
	if out.Err != nil {
		res.Error = out.Err.Error()
	}
	if c := d.last; c != nil {
		res.Trunk, res.CallID = c.Trunk(), c.ID()
	}
	if k := d.lastKeys; k != nil {
		res.Digits, res.Methods = k.pressed()
	}
	// A pass needs the keys to equal --expect, whatever the conversation
	// made of them.
	if res.Outcome == string(ivr.Confirmed) && res.Digits != expect {
		res.Outcome = string(ivr.WrongInput)
	}
	return finish()
}

// String is the one-line human form of a result.
func (r callResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s mode, keys %q, expected %q", r.Outcome, r.Mode, r.Digits, r.Expected)
	if r.Match != "" {
		fmt.Fprintf(&b, " (the number shown: %s)", r.Match)
	}
	if r.Code != "" {
		fmt.Fprintf(&b, " (the code spoken: %s)", r.Code)
	}
	if len(r.Methods) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(r.Methods, ", "))
	}
	if r.SIPStatus != 0 {
		fmt.Fprintf(&b, "; SIP %d", r.SIPStatus)
		if r.Reason != "" {
			fmt.Fprintf(&b, " %s", r.Reason)
		}
	}
	if r.Trunk != "" {
		fmt.Fprintf(&b, " via %s", r.Trunk)
	}
	if r.SetupMS != 0 {
		fmt.Fprintf(&b, "; answered after %d ms", r.SetupMS)
	}
	fmt.Fprintf(&b, "; %d ms in all", r.DurationMS)
	if r.Error != "" && r.SIPStatus == 0 {
		fmt.Fprintf(&b, "; %s", r.Error)
	}
	return b.String()
}
