package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/sip/siptest"
)

// TestCallCommand runs `sspr call` against SIPp callees and checks the
// outcome word, the keys, the SIP status and the exit status.
func TestCallCommand(t *testing.T) {
	cases := []struct {
		name    string
		uas     siptest.UAS
		flags   []string
		outcome string
		digits  string
		status  int
		exit    int
	}{
		{"pound", siptest.UAS{Mode: siptest.DTMF, Digits: "#"}, nil, "confirmed", "#", 200, 0},
		{"pin", siptest.UAS{Mode: siptest.DTMF, Digits: "4827#"}, []string{"--expect", "4827#"}, "confirmed", "4827#", 200, 0},
		{"wrong-pin", siptest.UAS{Mode: siptest.DTMF, Digits: "1111#"}, []string{"--expect", "4827#"}, "wrong-input", "1111#", 200, 1},
		{"inband", siptest.UAS{Mode: siptest.Inband, Digits: "37#"}, []string{"--expect", "37#"}, "confirmed", "37#", 200, 0},
		{"info", siptest.UAS{Mode: siptest.Info, Digits: "5#"}, []string{"--expect", "5#"}, "confirmed", "5#", 200, 0},
		{"auth", siptest.UAS{Mode: siptest.Auth}, []string{"--user", siptest.DefaultUsername, "--password", siptest.DefaultPassword}, "confirmed", "#", 200, 0},
		{"busy", siptest.UAS{Mode: siptest.Busy}, nil, "busy", "", 486, 1},
		{"decline", siptest.UAS{Mode: siptest.Decline}, nil, "rejected", "", 603, 1},
		{"no-answer", siptest.UAS{Mode: siptest.NoAnswer}, []string{"--timeout", "1s"}, "no-answer", "", 0, 1},
		{"no-input", siptest.UAS{Mode: siptest.Silent}, []string{"--timeout", "1s"}, "no-input", "", 200, 1},
		{"hung-up", siptest.UAS{Mode: siptest.Bye, ByeAfter: 500 * time.Millisecond}, []string{"--timeout", "5s"}, "hung-up", "", 200, 1},
		{"match", siptest.UAS{Mode: siptest.DTMF, Digits: "37#"}, []string{"--mode", "match", "--expect", "37#"}, "confirmed", "37#", 200, 0},
		{"match-wrong", siptest.UAS{Mode: siptest.DTMF, Digits: "73#"}, []string{"--mode", "match", "--expect", "37#"}, "wrong-input", "73#", 200, 1},
		{"pin-mode", siptest.UAS{Mode: siptest.DTMF, Digits: "4827#"}, []string{"--mode", "pin", "--expect", "4827#", "--language", "de"}, "confirmed", "4827#", 200, 0},
		{"fraud", siptest.UAS{Mode: siptest.DTMF, Digits: "0"}, []string{"--mode", "match", "--expect", "37#"}, "fraud-reported", "0", 200, 1},
		{"code", siptest.UAS{Mode: siptest.DTMF, Digits: "#"}, []string{"--mode", "code"}, "code-delivered", "#", 200, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := siptest.SIPp(t, tc.uas)
			args := append([]string{"call", "--trunk", "sip:" + p.Addr, "--json"}, tc.flags...)
			args = append(args, "+15551234567")
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
			var res callResult
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("output %q is not one JSON object: %v (stderr %s)", stdout.String(), err, stderr.String())
			}
			if res.Outcome != tc.outcome || res.Digits != tc.digits || res.SIPStatus != tc.status || code != tc.exit {
				t.Fatalf("got outcome %q keys %q status %d exit %d, want %q %q %d %d\n%s\nstderr: %s",
					res.Outcome, res.Digits, res.SIPStatus, code, tc.outcome, tc.digits, tc.status, tc.exit, stdout.String(), stderr.String())
			}
		})
	}
}

func TestCallCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"call", "--trunk", "127.0.0.1:5060", "--mode", "nope", "100"},
		{"call", "--trunk", "127.0.0.1:5060", "--mode", "match", "--expect", "30#", "100"},
		{"call", "--trunk", "127.0.0.1:5060", "--mode", "pin", "--expect", "1234", "100"},
		{"call", "--trunk", "127.0.0.1:5060", "--mode", "code", "--expect", "1#", "100"},
		{"call"},
		{"call", "100"},
		{"call", "--trunk", "127.0.0.1:5060", "--expect", "12x", "100"},
		{"call", "--trunk", "127.0.0.1:5060", "--timeout", "0s", "100"},
		{"call", "--trunk", "127.0.0.1:5060", "a", "b"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %s)", args, code, exitUsage, stderr.String())
		}
	}
	// The human-readable line names the outcome first.
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"call", "--trunk", "127.0.0.1:9", "--timeout", "1s", "100"}, strings.NewReader(""), &stdout, &stderr)
	if !strings.HasPrefix(stdout.String(), "unreachable: ") {
		t.Errorf("call to a closed port printed %q, want unreachable first", stdout.String())
	}
}

// TestCallCommandConfig: the trunk comes from the sip section of a
// configuration file, its password from the environment.
func TestCallCommandConfig(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.Auth, Digits: "12#"})
	t.Setenv("SSPR_TEST_TRUNK_PASSWORD", siptest.DefaultPassword)
	file := filepath.Join(t.TempDir(), "sspr.yaml")
	cfg := `
sip:
  listen:
    - transport: udp
      addr: 127.0.0.1:0
  ring_timeout: 10s
  trunks:
    - name: lab
      address: sip:` + p.Addr + `
      username: ` + siptest.DefaultUsername + `
      password: ${SSPR_TEST_TRUNK_PASSWORD}
      keepalive: -1s
  media:
    bind_ip: 127.0.0.1
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"call", "--config", file, "--expect", "12#", "--json", "100"}, strings.NewReader(""), &stdout, &stderr)
	var res callResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || code != 0 || res.Outcome != "confirmed" || res.Trunk != "lab" {
		t.Fatalf("exit %d, %s (stderr %s)", code, stdout.String(), stderr.String())
	}
	// The ivr section: a prompt directory with a broken recording is
	// refused at start-up, naming the file.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "en"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "en", "goodbye.wav"), []byte("not a wav"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPrompts := filepath.Join(t.TempDir(), "prompts.yaml")
	if err := os.WriteFile(withPrompts, []byte(cfg+"ivr:\n  prompts: "+dir+"\n  language: de\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"call", "--config", withPrompts, "100"}, strings.NewReader(""), &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), filepath.Join("en", "goodbye.wav")) {
		t.Fatalf("broken prompt: exit %d, stderr %q", code, stderr.String())
	}
	// A misspelt key is an error that names it, not silently ignored.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("sip:\n  trunkz: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"call", "--config", bad, "100"}, strings.NewReader(""), &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "trunkz") {
		t.Fatalf("bad config: exit %d, stderr %q", code, stderr.String())
	}
}
