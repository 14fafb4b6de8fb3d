package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runSSPR runs the command line in-process and returns what it wrote and
// its exit status.
func runSSPR(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runSSPRContext(t, context.Background(), stdin, args...)
}

func runSSPRContext(t *testing.T, ctx context.Context, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(ctx, args, bytes.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

const topUsage = `Usage: sspr <command> [arguments]

sspr is a telephony-first self-service password reset service.

Commands:
  version           print the version and build
  serve             serve the portal: registration, reset and unlock
  demo              try sspr on this machine: the portal, demo users and a virtual phone
  config check      check a configuration file and print every problem
  config example    print a commented example configuration
  call              place one verification call through a trunk and report it
  directory status  check the directory connection and service account
  directory find    show a user's entry and lock state
  directory unlock  clear a user's lockout
  user show         show the registration, the reset-process lockout and recent audit records
  user reopen       reopen the reset process: clear its lockout, a permanent one too
  user forget       delete the registration (a lost phone, a leaver)
  dtmf decode       print the DTMF digits heard in WAV files
  dtmf gen          write DTMF tones to a WAV file
  help              show help for a command

Run "sspr <command> --help" for a command's flags.
`

const dtmfUsage = `Usage: sspr dtmf <command> [arguments]

Commands:
  dtmf decode  print the DTMF digits heard in WAV files
  dtmf gen     write DTMF tones to a WAV file

Run "sspr <command> --help" for a command's flags.
`

func TestCommandUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     string
		stdoutHead string // prefix of stdout, when stdout is ""
	}{
		{name: "no command", code: 2, stderr: "sspr: missing command\n\n" + topUsage},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: "sspr: unknown command \"frobnicate\"\n\n" + topUsage},
		{name: "unknown flag at top", args: []string{"--verbose"}, code: 2, stderr: "sspr: unknown command \"--verbose\"\n\n" + topUsage},
		{name: "--help", args: []string{"--help"}, code: 0, stdout: topUsage},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: topUsage},
		{name: "help", args: []string{"help"}, code: 0, stdout: topUsage},
		{name: "dtmf alone", args: []string{"dtmf"}, code: 2, stderr: "sspr dtmf: missing command\n\n" + dtmfUsage},
		{name: "dtmf unknown", args: []string{"dtmf", "encode"}, code: 2, stderr: "sspr dtmf: unknown command \"encode\"\n\n" + dtmfUsage},
		{name: "dtmf --help", args: []string{"dtmf", "--help"}, code: 0, stdout: dtmfUsage},
		{name: "dtmf help", args: []string{"dtmf", "help"}, code: 0, stdout: dtmfUsage},
		{name: "help dtmf", args: []string{"help", "dtmf"}, code: 0, stdout: dtmfUsage},
		{name: "help unknown", args: []string{"help", "frobnicate"}, code: 2, stderr: "sspr: unknown command \"frobnicate\"\n\n" + topUsage},
		{name: "help dtmf gen", args: []string{"help", "dtmf", "gen"}, code: 0, stdoutHead: "Usage: sspr dtmf gen --digits KEYS [flags] OUT.wav\n"},
		{name: "version --help", args: []string{"version", "--help"}, code: 0, stdoutHead: "Usage: sspr version [--json]\n"},
		{name: "version -h", args: []string{"version", "-h"}, code: 0, stdoutHead: "Usage: sspr version [--json]\n"},
		{name: "dtmf decode --help", args: []string{"dtmf", "decode", "--help"}, code: 0, stdoutHead: "Usage: sspr dtmf decode [--events] FILE.wav...\n"},
		{name: "dtmf gen --help", args: []string{"dtmf", "gen", "--help"}, code: 0, stdoutHead: "Usage: sspr dtmf gen --digits KEYS [flags] OUT.wav\n"},
		{name: "help after operand", args: []string{"dtmf", "decode", "a.wav", "--help"}, code: 0, stdoutHead: "Usage: sspr dtmf decode [--events] FILE.wav...\n"},
		{name: "version bad flag", args: []string{"version", "--bogus"}, code: 2,
			stderr: "sspr version: flag provided but not defined: -bogus\nUsage: sspr version [--json]\nRun \"sspr version --help\" for details.\n"},
		{name: "version operand", args: []string{"version", "now"}, code: 2,
			stderr: "sspr version: unexpected argument \"now\"\nUsage: sspr version [--json]\nRun \"sspr version --help\" for details.\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runSSPR(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			if tc.stdoutHead != "" {
				if !strings.HasPrefix(stdout, tc.stdoutHead) {
					t.Errorf("stdout = %q, want it to start %q", stdout, tc.stdoutHead)
				}
			} else if stdout != tc.stdout {
				t.Errorf("stdout = %q, want %q", stdout, tc.stdout)
			}
			if stderr != tc.stderr {
				t.Errorf("stderr = %q, want %q", stderr, tc.stderr)
			}
		})
	}
}

func TestSubcommandHelpListsFlags(t *testing.T) {
	tests := []struct {
		args  []string
		flags []string
	}{
		{[]string{"version", "--help"}, []string{"-json"}},
		{[]string{"dtmf", "decode", "--help"}, []string{"-events"}},
		{[]string{"dtmf", "gen", "--help"}, []string{"-digits", "-on", "-off", "-level", "-twist", "-format"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, _, _ := runSSPR(t, nil, tc.args...)
			for _, f := range tc.flags {
				if !strings.Contains(stdout, "\n  "+f+" ") && !strings.Contains(stdout, "\n  "+f+"\n") {
					t.Errorf("help does not list %s:\n%s", f, stdout)
				}
			}
		})
	}
}
