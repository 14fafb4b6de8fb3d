package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip"
)

// callResult is what `sspr call` reports. Outcome is one word of a closed
// set: the sip package's call outcomes plus the input results.
type callResult struct {
	Outcome      string   `json:"outcome"`
	Digits       string   `json:"digits"`
	Expected     string   `json:"expected"`
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

// The input results of `sspr call`, beside the call outcomes of package
// sip.
const (
	outcomeConfirmed  = "confirmed"
	outcomeWrongInput = "wrong-input"
	outcomeNoInput    = "no-input"
)

func runCall(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet("call", "[flags] NUMBER", `
Place one call to NUMBER through a trunk, play a short prompt, collect the
keys the callee presses until # or the timeout, hang up and print the
outcome: confirmed, wrong-input, no-input, no-answer, busy, rejected,
unreachable, hung-up, media-timeout or failed. Exit status 0 only when the
keys equal --expect.

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
	expect := flags.String("expect", "#", "the whole key sequence expected, closing # included")
	timeout := flags.Duration("timeout", 30*time.Second, "how long to ring, and then how long to wait for the keys")
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
	case *configFile == "" && *trunkAddr == "":
		return flags.usageError(e, "--config or --trunk is required")
	}
	for i := 0; i < len(*expect); i++ {
		if !dtmf.ValidKey((*expect)[i]) {
			return flags.usageError(e, "--expect: %q is not a DTMF key", (*expect)[i])
		}
	}
	number := operands[0]

	cfg, err := callConfig(*configFile, *trunkAddr, *transport, *user, *password, *caFile, *listen, *callerID)
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr call: %v\n", err)
		return exitUsage
	}
	cfg.RingTimeout = *timeout
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	res := placeCall(ctx, cfg, log, number, *expect, *timeout)
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		fmt.Fprintln(e.stdout, res.String())
	}
	if res.Outcome == outcomeConfirmed {
		return exitOK
	}
	return exitFail
}

// callConfig builds the agent's configuration from a file or from flags.
func callConfig(file, trunkAddr, transport, user, password, caFile, listen, callerID string) (sip.Config, error) {
	var cfg sip.Config
	if file != "" {
		fc, err := loadConfig(file)
		if err != nil {
			return cfg, fmt.Errorf("--config: %w", err)
		}
		if cfg, err = fc.SIP.agentConfig(); err != nil {
			return cfg, fmt.Errorf("--config %s: %w", file, err)
		}
	}
	if trunkAddr == "" {
		return cfg, nil
	}
	if password == "" {
		password = envPassword()
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return cfg, fmt.Errorf("--listen %q: %w", listen, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return cfg, fmt.Errorf("--listen %q: want an IP address: %w", listen, err)
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
	return cfg, nil
}

// envPassword returns the trunk password from the environment, so that
// it need not appear on the command line.
func envPassword() string { return os.Getenv("SSPR_TRUNK_PASSWORD") }

// placeCall makes the call and collects the keys.
func placeCall(ctx context.Context, cfg sip.Config, log *slog.Logger, number, expect string, timeout time.Duration) callResult {
	start := time.Now()
	res := callResult{Expected: expect}
	finish := func() callResult {
		res.DurationMS = time.Since(start).Milliseconds()
		return res
	}
	agent, err := sip.New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		res.Outcome, res.Error = string(sip.Failed), err.Error()
		return finish()
	}
	defer agent.Close()
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
		res.Outcome, res.Error = string(sip.Failed), fmt.Sprint(err)
		return finish()
	}

	call, err := agent.Dial(ctx, number, sip.DialOptions{RingTimeout: timeout})
	if err != nil {
		res.Outcome = string(sip.OutcomeOf(err))
		var ce *sip.CallError
		if errors.As(err, &ce) {
			res.SIPStatus, res.Reason, res.Trunk = ce.Status, ce.Reason, ce.Trunk
		}
		res.Error = err.Error()
		return finish()
	}
	res.Trunk, res.CallID, res.SetupMS = call.Trunk(), call.ID(), call.SetupTime().Milliseconds()
	res.SIPStatus = 200

	playCtx, stopPrompt := context.WithCancel(ctx)
	defer stopPrompt()
	go func() { _ = call.Play(playCtx, bytes.NewReader(promptBeeps()), dtmf.EncodingPCM16) }()

	wait := time.NewTimer(timeout)
	defer wait.Stop()
	var digits strings.Builder
	methods := map[string]bool{}
	outcome := ""
collect:
	for {
		select {
		case d, ok := <-call.Digits():
			if !ok { // the call ended
				<-call.Done()
				outcome = string(call.Outcome())
				break collect
			}
			stopPrompt() // barge-in
			if digits.Len() == 0 {
				res.FirstDigitMS = time.Since(call.AnsweredAt()).Milliseconds()
			}
			digits.WriteByte(d.Key)
			if !methods[d.Method.String()] {
				methods[d.Method.String()] = true
				res.Methods = append(res.Methods, d.Method.String())
			}
			if d.Key == '#' || digits.Len() >= 32 {
				break collect
			}
		case <-call.Done():
			outcome = string(call.Outcome())
			break collect
		case <-wait.C:
			break collect
		case <-ctx.Done():
			outcome = string(sip.Failed)
			res.Error = "interrupted"
			break collect
		}
	}
	hctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	_ = call.Hangup(hctx)
	cancel()
	res.Digits = digits.String()
	switch {
	case res.Digits == expect:
		res.Outcome = outcomeConfirmed
	case outcome != "":
		res.Outcome = outcome
	case res.Digits == "":
		res.Outcome = outcomeNoInput
	default:
		res.Outcome = outcomeWrongInput
	}
	return finish()
}

// String is the one-line human form of a result.
func (r callResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: keys %q, expected %q", r.Outcome, r.Digits, r.Expected)
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

// promptBeeps is the prompt of `sspr call`: two short 440 Hz beeps, as
// 8 kHz little-endian PCM.
func promptBeeps() []byte {
	var pcm []int16
	for range 2 {
		for i := range 1600 { // 200 ms
			pcm = append(pcm, int16(8000*math.Sin(2*math.Pi*440*float64(i)/dtmf.SampleRate)))
		}
		pcm = append(pcm, make([]int16, 1600)...)
	}
	b := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}
