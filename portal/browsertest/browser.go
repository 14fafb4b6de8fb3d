package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultTimeout bounds each page action (navigation, click, wait...) when
// Config.Timeout is zero.
const DefaultTimeout = 20 * time.Second

// DefaultChromium is the browser Start runs unless $SSPR_CHROMIUM names
// another: Debian's chromium package.
const DefaultChromium = "/usr/bin/chromium"

// Default window size, a small laptop screen.
const (
	DefaultWidth  = 1280
	DefaultHeight = 900
)

// startTimeout bounds how long Start waits for the browser to answer.
const startTimeout = 30 * time.Second

// closeTimeout bounds the graceful close of the browser; it is killed then.
const closeTimeout = 5 * time.Second

// goneTimeout is how long the cleanup waits for the processes of the
// browser's tree to be gone after it killed them.
const goneTimeout = 5 * time.Second

// deps is what the failure messages tell the reader to run.
const deps = "run `make test-deps` (or .ci/browser-deps)"

// ErrMissing is wrapped by the errors of Lookup when the browser or
// axe-core is not installed.
var ErrMissing = errors.New("browsertest: not installed")

// Config adjusts StartWith; the zero value gives the defaults.
type Config struct {
	// Width and Height are the window size in CSS pixels (default
	// 1280x900).
	Width, Height int
	// Timeout bounds each action of the pages of this browser (default
	// DefaultTimeout); Page.SetTimeout changes it for one page.
	Timeout time.Duration
	// Lang is the browser's language, which it sends as Accept-Language
	// (default "en-US").
	Lang string
}

// Browser is a headless Chromium started for one test. Its pages are tabs
// of its one window.
type Browser struct {
	cfg      Config
	dataDir  string
	allocCtx context.Context
	ctx      context.Context // the browser's own context; pages derive from it
	cancel   context.CancelFunc
	stop     context.CancelFunc // cancels the allocator and waits for it
	pid      int
}

// ChromiumPath returns the browser Start runs: $SSPR_CHROMIUM when set,
// else DefaultChromium.
func ChromiumPath() string {
	if p := os.Getenv("SSPR_CHROMIUM"); p != "" {
		return p
	}
	return DefaultChromium
}

// AxePath returns the axe-core script CheckAccessibility injects:
// $SSPR_AXE_JS when set, else node_modules/axe-core/axe.min.js in this
// package's source directory.
func AxePath() string {
	if p := os.Getenv("SSPR_AXE_JS"); p != "" {
		return p
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("node_modules", "axe-core", "axe.min.js")
	}
	return filepath.Join(filepath.Dir(file), "node_modules", "axe-core", "axe.min.js")
}

// Lookup checks that the browser and axe-core are installed, and returns
// their paths, or an error wrapping ErrMissing.
func Lookup() (chromium, axe string, err error) {
	chromium, axe = ChromiumPath(), AxePath()
	var errs []error
	if fi, err := os.Stat(chromium); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		errs = append(errs, fmt.Errorf("%w: chromium (%s, Debian package chromium)", ErrMissing, chromium))
	}
	if fi, err := os.Stat(axe); err != nil || fi.Size() == 0 {
		errs = append(errs, fmt.Errorf("%w: axe-core (%s, npm ci in portal/browsertest)", ErrMissing, axe))
	}
	return chromium, axe, errors.Join(errs...)
}

// Start launches a headless Chromium with the default Config, or fails the
// test; see StartWith.
func Start(t testing.TB) *Browser {
	t.Helper()
	return StartWith(t, Config{})
}

// StartWith launches a headless Chromium for the test, with a fresh profile
// in t.TempDir(), and returns once it answers. It fails the test (never
// skips it) when chromium or axe-core is missing, naming `make test-deps`.
// The browser is closed when the test ends, and the cleanup checks, by
// PID, that every process of its tree is gone (killing any that lingers).
func StartWith(t testing.TB, cfg Config) *Browser {
	t.Helper()
	chromium, _, err := Lookup()
	if err != nil {
		t.Fatalf("browsertest: %v: %s", err, deps)
	}
	if cfg.Width <= 0 {
		cfg.Width = DefaultWidth
	}
	if cfg.Height <= 0 {
		cfg.Height = DefaultHeight
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Lang == "" {
		cfg.Lang = "en-US"
	}
	b := &Browser{cfg: cfg, dataDir: t.TempDir()}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(b.dataDir),
		chromedp.WindowSize(cfg.Width, cfg.Height),
		chromedp.Env("LANGUAGE=" + cfg.Lang),
		chromedp.CombinedOutput(&logWriter{t: t}),
		// Its own process group, so that the cleanup finds the whole
		// tree; killed by the kernel if the test binary dies without
		// running its cleanups.
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.SysProcAttr = sysProcAttr()
		}),
	}
	for _, f := range flags(cfg.Lang) {
		opts = append(opts, chromedp.Flag(f.name, f.value))
	}
	b.allocCtx, b.stop = chromedp.NewExecAllocator(context.Background(), opts...)
	b.ctx, b.cancel = chromedp.NewContext(b.allocCtx)
	t.Cleanup(func() { b.close(t) })

	// The first Run starts the browser; it must not carry a timeout (that
	// would end the browser with it), so the wait is bounded from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(b.ctx) }()
	select {
	case err = <-started:
	case <-time.After(startTimeout):
		err = fmt.Errorf("no answer after %v", startTimeout)
	}
	if err != nil {
		t.Fatalf("browsertest: start %s: %v", chromium, err)
	}
	if c := chromedp.FromContext(b.ctx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		b.pid = c.Browser.Process().Pid
	}
	if b.pid == 0 {
		t.Fatalf("browsertest: start %s: no process", chromium)
	}
	return b
}

// flag is one command-line switch of the browser.
type flag struct {
	name  string
	value any
}

// flags are the browser's switches: headless, no sandbox (the tests run as
// root), no GPU, and nothing that talks to the network on its own (the
// CI machine has none; chromium waits on it otherwise).
func flags(lang string) []flag {
	return []flag{
		{"headless", true},
		{"no-sandbox", true},
		{"disable-gpu", true},
		{"disable-quic", true},
		{"no-first-run", true},
		{"no-default-browser-check", true},
		{"disable-background-networking", true},
		{"disable-component-update", true},
		{"disable-sync", true},
		{"disable-default-apps", true},
		{"disable-extensions", true},
		{"disable-breakpad", true},
		{"disable-client-side-phishing-detection", true},
		{"disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"},
		{"safebrowsing-disable-auto-update", true},
		{"metrics-recording-only", true},
		{"password-store", "basic"},
		{"disable-dev-shm-usage", true},
		// Background tabs keep their timers: a test may drive two pages.
		{"disable-background-timer-throttling", true},
		{"disable-renderer-backgrounding", true},
		{"disable-backgrounding-occluded-windows", true},
		{"mute-audio", true},
		{"lang", lang},
	}
}

// PID returns the process ID of the browser (its main process).
func (b *Browser) PID() int { return b.pid }

// close ends the browser and makes sure that no process of its tree is
// left: the main process by its PID, and every process in its process
// group or started with its profile directory.
func (b *Browser) close(t testing.TB) {
	t.Helper()
	if b.cancel == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(b.ctx, closeTimeout)
		defer cancel()
		_ = chromedp.Cancel(ctx) // graceful Browser.close, else a kill
		b.cancel()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeTimeout + time.Second):
		if b.pid > 0 {
			_ = syscall.Kill(b.pid, syscall.SIGKILL)
		}
		<-done
	}
	b.stop() // waits for the process to be reaped
	b.cancel = nil
	if b.pid == 0 {
		return
	}
	if alive(b.pid) {
		_ = syscall.Kill(b.pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(goneTimeout)
	for {
		left := tree(b.pid, b.dataDir)
		if alive(b.pid) {
			left = append(left, b.pid)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("browsertest: chromium processes still running after close: %v", left)
			return
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logWriter passes the browser's output to the test log, line by line,
// while the test runs (and drops it after: t.Log panics then).
type logWriter struct {
	t       testing.TB
	partial string
}

// Write logs the complete lines of p.
func (w *logWriter) Write(p []byte) (int, error) {
	s := w.partial + string(p)
	lines := strings.Split(s, "\n")
	w.partial = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		if l = strings.TrimSpace(l); l != "" && !noise(l) {
			logSafe(w.t, "chromium: "+l)
		}
	}
	return len(p), nil
}

// noise reports whether a line of the browser's output is one it prints on
// every start and says nothing about the test.
func noise(l string) bool {
	for _, s := range []string{"DevTools listening on", "dbus", "Fontconfig", "sandbox", "unexpected operator"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// logSafe logs s unless the test has already finished.
func logSafe(t testing.TB, s string) {
	defer func() { _ = recover() }()
	t.Log(s)
}
