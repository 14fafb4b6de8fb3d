// Command sspr is the sspr service and its tools.
//
//	sspr version [--json]
//	sspr serve --config FILE [--admin ADDR] [--log-format text|json] [--drain-timeout D]
//	sspr demo [--http ADDR]
//	sspr config check --config FILE | sspr config example
//	sspr call [--config FILE] [--trunk sip:HOST:PORT] [flags] NUMBER
//	sspr directory status|find|unlock --config FILE [USER]
//	sspr dtmf decode [--events] FILE.wav...
//	sspr dtmf gen --digits KEYS [--on D] [--off D] [--level DBM0] [--twist DB] [--format F] OUT.wav
//
// Exit status is 0 on success, 1 when the work failed and 2 for a usage
// error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sspr-project/sspr/sip"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	// sipgo's transport and transaction layers log through a package
	// logger of their own: warnings and errors only, to standard error.
	sip.SetLibraryLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("sip", "sipgo"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a command reads and writes besides its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one subcommand, or a group of them.
type command struct {
	// name is the full name, as typed after "sspr".
	name string
	// synopsis is the arguments part of the usage line.
	synopsis string
	// summary is a one-line description for the command list.
	summary string
	// run runs the command with the arguments after its name.
	run func(ctx context.Context, e *env, args []string) int
	// subcommands, for a group; run is nil.
	subcommands []*command
}

// commands returns the command tree. It is a function, not a variable, to
// avoid an initialisation cycle through runHelp.
func commands() []*command {
	return []*command{
		{name: "version", synopsis: "[--json]", summary: "print the version and build", run: runVersion},
		{name: "serve", synopsis: "--config FILE [flags]", summary: "serve the portal: registration, reset and unlock", run: runServe},
		{name: "demo", synopsis: "[--http ADDR]", summary: "try sspr on this machine: the portal, demo users and a virtual phone", run: runDemo},
		{name: "config", summary: "configuration tools", subcommands: []*command{
			{name: "config check", synopsis: "--config FILE", summary: "check a configuration file and print every problem", run: runConfigCheck},
			{name: "config example", summary: "print a commented example configuration", run: runConfigExample},
		}},
		{name: "call", synopsis: "[flags] NUMBER", summary: "place one verification call through a trunk and report it", run: runCall},
		{name: "directory", summary: "directory tools for the helpdesk", subcommands: []*command{
			{name: "directory status", synopsis: "--config FILE", summary: "check the directory connection and service account", run: runDirectoryStatus},
			{name: "directory find", synopsis: "--config FILE USER", summary: "show a user's entry and lock state", run: runDirectoryFind},
			{name: "directory unlock", synopsis: "--config FILE USER", summary: "clear a user's lockout", run: runDirectoryUnlock},
		}},
		{name: "user", summary: "what sspr keeps about a user: for the helpdesk", subcommands: []*command{
			{name: "user show", synopsis: "--config FILE USER", summary: "show the registration, the reset-process lockout and recent audit records", run: runUserShow},
			{name: "user reopen", synopsis: "--config FILE USER", summary: "reopen the reset process: clear its lockout, a permanent one too", run: runUserClearLockout},
			{name: "user forget", synopsis: "--config FILE USER", summary: "delete the registration (a lost phone, a leaver)", run: runUserDeleteRegistration},
		}},
		{name: "dtmf", summary: "DTMF tools", subcommands: []*command{
			{name: "dtmf decode", synopsis: "[--events] FILE.wav...", summary: "print the DTMF digits heard in WAV files", run: runDTMFDecode},
			{name: "dtmf gen", synopsis: "--digits KEYS [flags] OUT.wav", summary: "write DTMF tones to a WAV file", run: runDTMFGen},
		}},
		{name: "help", synopsis: "[COMMAND]", summary: "show help for a command", run: runHelp},
	}
}

// run runs sspr with args (without the program name) and returns the exit
// status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	return dispatch(ctx, e, "sspr", commands(), args)
}

// dispatch finds the command args[0] among cmds and runs it. prefix is the
// command line so far, for messages.
func dispatch(ctx context.Context, e *env, prefix string, cmds []*command, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(e.stderr, "%s: missing command\n\n", prefix)
		printCommands(e.stderr, prefix, cmds)
		return exitUsage
	}
	if isHelp(args[0]) {
		printCommands(e.stdout, prefix, cmds)
		return exitOK
	}
	for _, c := range cmds {
		if c.name[strings.LastIndexByte(c.name, ' ')+1:] != args[0] {
			continue
		}
		if c.subcommands != nil {
			return dispatch(ctx, e, "sspr "+c.name, c.subcommands, args[1:])
		}
		return c.run(ctx, e, args[1:])
	}
	if args[0] == "help" { // "sspr dtmf help"
		printCommands(e.stdout, prefix, cmds)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "%s: unknown command %q\n\n", prefix, args[0])
	printCommands(e.stderr, prefix, cmds)
	return exitUsage
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// printCommands writes the usage of a command group.
func printCommands(w io.Writer, prefix string, cmds []*command) {
	fmt.Fprintf(w, "Usage: %s <command> [arguments]\n", prefix)
	if prefix == "sspr" {
		fmt.Fprintf(w, "\nsspr is a telephony-first self-service password reset service.\n")
	}
	fmt.Fprintf(w, "\nCommands:\n")
	var lines [][2]string
	var walk func([]*command)
	walk = func(cs []*command) {
		for _, c := range cs {
			if c.subcommands != nil {
				walk(c.subcommands)
				continue
			}
			lines = append(lines, [2]string{c.name, c.summary})
		}
	}
	walk(cmds)
	width := 0
	for _, l := range lines {
		width = max(width, len(l[0]))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
	fmt.Fprintf(w, "\nRun \"sspr <command> --help\" for a command's flags.\n")
}

// runHelp is "sspr help [COMMAND...]": the same as "sspr COMMAND --help".
func runHelp(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printCommands(e.stdout, "sspr", commands())
		return exitOK
	}
	return dispatch(ctx, e, "sspr", commands(), append(args[:len(args):len(args)], "--help"))
}

// flagSet is a subcommand's flags with its usage text.
type flagSet struct {
	*flag.FlagSet
	name     string // "dtmf gen"
	synopsis string
	about    string // paragraphs after the usage line
}

// newFlagSet returns a FlagSet that reports nothing itself: parse prints
// errors and help.
func newFlagSet(name, synopsis, about string) *flagSet {
	fs := flag.NewFlagSet("sspr "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, name: name, synopsis: synopsis, about: about}
}

// printUsage writes the full usage to w.
func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: sspr %s %s\n", fs.name, fs.synopsis)
	if fs.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(fs.about))
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// usageError writes a usage error to stderr and returns exitUsage.
func (fs *flagSet) usageError(e *env, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "sspr %s: %s\n", fs.name, fmt.Sprintf(format, args...))
	fmt.Fprintf(e.stderr, "Usage: sspr %s %s\nRun \"sspr %s --help\" for details.\n", fs.name, fs.synopsis, fs.name)
	return exitUsage
}

// parse parses args, which may mix flags and operands ("a.wav --events");
// "--" ends the flags. It returns the operands, or ok false with the exit
// status when the command should stop: after printing help (0) or a usage
// error (2).
func (fs *flagSet) parse(e *env, args []string) (operands []string, status int, ok bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.printUsage(e.stdout)
			return nil, exitOK, false
		}
		if err != nil {
			return nil, fs.usageError(e, "%v", err), false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return operands, 0, true
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(operands, rest...), 0, true
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}
