package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// pollEvery is how often the Wait functions look at the page.
const pollEvery = 50 * time.Millisecond

// Page is one tab of a Browser, bound to the test that opened it: an action
// that fails, or does not finish within the page's timeout, fails that
// test (t.Fatalf). Selectors are CSS selectors; an action on a selector
// applies to the first element that matches it.
type Page struct {
	t       testing.TB
	ctx     context.Context
	timeout time.Duration

	mu   sync.Mutex
	errs []string
}

// Page opens a new tab for the test t, which is closed when t ends.
// Console errors, uncaught exceptions and Content Security Policy
// violations of the pages it shows are collected from then on (Errors).
func (b *Browser) Page(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	p := &Page{t: t, ctx: ctx, timeout: b.cfg.Timeout}
	t.Cleanup(cancel)
	// Listen opens the tab (and must, like the first Run, not carry a
	// timeout: the tab would close with it).
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Listen(ctx, p.event) }()
	var err error
	select {
	case err = <-opened:
	case <-time.After(p.timeout):
		err = fmt.Errorf("no answer after %v", p.timeout)
	}
	if err != nil {
		t.Fatalf("browsertest: open a tab: %v", err)
	}
	return p
}

// SetTimeout sets the bound of each later action of the page.
func (p *Page) SetTimeout(d time.Duration) {
	if d > 0 {
		p.timeout = d
	}
}

// Context returns the page's chromedp context, for what the helpers do not
// cover: chromedp.Run(p.Context(), ...). Bound the call with a timeout
// derived from it.
func (p *Page) Context() context.Context { return p.ctx }

// event records the errors the page reports. It runs in the loop that reads
// the tab's messages, so it only appends.
func (p *Page) event(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		msg = "console." + string(ev.Type) + ": " + argsText(ev.Args)
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d == nil {
			return
		}
		msg = "exception: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			desc, _, _ := strings.Cut(d.Exception.Description, "\n")
			msg += " " + desc
		}
		if d.URL != "" {
			msg += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil || e.Level != log.EntryLevelError {
			return
		}
		msg = string(e.Source) + ": " + e.Text
		if e.URL != "" && !strings.Contains(e.Text, e.URL) {
			msg += " (" + e.URL + ")"
		}
	default:
		return
	}
	p.mu.Lock()
	p.errs = append(p.errs, msg)
	p.mu.Unlock()
}

// argsText renders the arguments of a console call as the console would,
// roughly: strings as they are, other values by their description.
func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		case a.Description != "":
			parts = append(parts, a.Description)
		case a.UnserializableValue != "":
			parts = append(parts, string(a.UnserializableValue))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// Errors returns what the page has reported as broken so far, in order:
// console.error and console.assert calls, uncaught exceptions and unhandled
// rejections, and errors of the browser log (CSP violations, failed
// loads). A page that works reports none.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// run runs one action under the page's timeout, and fails the test if it
// fails.
func run[T any](p *Page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("browsertest: %s: %v", what, p.explain(err))
	}
	return v
}

// explain names the timeout when err is the page's deadline.
func (p *Page) explain(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %v (%w)", p.timeout, err)
	}
	return err
}

// Go loads url in the tab and waits for its load event.
func (p *Page) Go(url string) {
	p.t.Helper()
	run(p, "go to "+url, chromedp.Navigate(url))
}

// URL returns the address of the page shown.
func (p *Page) URL() string {
	p.t.Helper()
	return run(p, "read the URL", chromedp.Location())
}

// Click waits for the element to be visible, and clicks its middle with
// the mouse.
func (p *Page) Click(sel string) {
	p.t.Helper()
	run(p, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Fill clears the input or textarea, focuses it, and types value into it
// with key events.
func (p *Page) Fill(sel, value string) {
	p.t.Helper()
	run(p, "fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	// chromedp.Clear leaves a value typed earlier in a password field;
	// emptying it from the page does not.
	run(p, "clear "+sel, eval[bool](clearJS, sel))
	run(p, "fill "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
}

// keyNames maps the names Press takes to the keys they press.
var keyNames = map[string]string{
	"Tab": kb.Tab, "Enter": kb.Enter, "Space": " ", "Escape": kb.Escape,
	"Backspace": kb.Backspace, "Delete": kb.Delete,
	"ArrowUp": kb.ArrowUp, "ArrowDown": kb.ArrowDown,
	"ArrowLeft": kb.ArrowLeft, "ArrowRight": kb.ArrowRight,
	"Home": kb.Home, "End": kb.End, "PageUp": kb.PageUp, "PageDown": kb.PageDown,
}

// modifierNames maps the prefixes of Press to key modifiers.
var modifierNames = map[string]chromedp.Modifier{
	"Shift": kb.ModifierShift, "Ctrl": kb.ModifierCtrl, "Control": kb.ModifierCtrl,
	"Alt": kb.ModifierAlt, "Meta": kb.ModifierMeta,
}

// parseKey turns one argument of Press into the key action.
func parseKey(k string) (chromedp.Action[chromedp.Void], error) {
	var mods []chromedp.Modifier
	name := k
	for {
		prefix, rest, ok := strings.Cut(name, "+")
		m, known := modifierNames[prefix]
		if !ok || !known || rest == "" {
			break
		}
		mods = append(mods, m)
		name = rest
	}
	keys, named := keyNames[name]
	switch {
	case named:
	case len([]rune(name)) == 1:
		keys = name
	case len(mods) == 0 && name != "":
		keys = name // text, typed one character after the other
	default:
		return nil, fmt.Errorf("unknown key %q", k)
	}
	if len(mods) > 0 {
		return chromedp.KeyEvent(keys, chromedp.KeyModifiers(mods...)), nil
	}
	return chromedp.KeyEvent(keys), nil
}

// Press sends real key events to the focused element, one argument after
// the other. An argument is a key name (Tab, Enter, Space, Escape,
// Backspace, Delete, ArrowUp/Down/Left/Right, Home, End, PageUp,
// PageDown), optionally with modifiers ("Shift+Tab", "Ctrl+a"), or text
// typed character by character ("4", "1234").
func (p *Page) Press(keys ...string) {
	p.t.Helper()
	steps := make([]chromedp.Action[chromedp.Void], 0, len(keys))
	for _, k := range keys {
		a, err := parseKey(k)
		if err != nil {
			p.t.Fatalf("browsertest: press: %v", err)
		}
		steps = append(steps, a)
	}
	run(p, fmt.Sprintf("press %q", keys), chromedp.Steps(steps...))
}

// textJS returns the rendered text of the first element matching a
// selector, or null when none does.
const textJS = `(sel) => { const e = document.querySelector(sel); return e ? e.innerText : null; }`

// eval calls the function declaration fn (an arrow function) with args in
// the page; the result is decoded into T.
func eval[T any](fn string, args ...any) chromedp.Action[T] {
	js := "(" + fn + ")("
	for i, a := range args {
		b, _ := json.Marshal(a)
		if i > 0 {
			js += ","
		}
		js += string(b)
	}
	return chromedp.Evaluate[T](js + ")")
}

// Text returns the rendered text (innerText) of the element, once it is
// there.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	return run(p, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// WaitText waits until the rendered text of the element contains substr,
// or fails the test with the last text seen after the page's timeout.
func (p *Page) WaitText(sel, substr string) {
	p.t.Helper()
	var last *string
	ok := p.poll(func(ctx context.Context) (bool, error) {
		v, err := chromedp.Run(ctx, eval[*string](textJS, sel))
		if err != nil {
			return false, err
		}
		last = v
		return v != nil && strings.Contains(*v, substr), nil
	})
	if !ok {
		seen := "no element matched"
		if last != nil {
			seen = fmt.Sprintf("last text %q", *last)
		}
		p.t.Fatalf("browsertest: wait for %q in %s: timed out after %v; %s", substr, sel, p.timeout, seen)
	}
}

// WaitVisible waits until the element is there and visible.
func (p *Page) WaitVisible(sel string) {
	p.t.Helper()
	run(p, "wait for "+sel+" to be visible", chromedp.WaitVisible(chromedp.CSS(sel)))
}

// WaitURL waits until the page's address contains substr, or fails the
// test with the last address seen.
func (p *Page) WaitURL(substr string) {
	p.t.Helper()
	var last string
	ok := p.poll(func(ctx context.Context) (bool, error) {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
		if err != nil {
			return false, err
		}
		last = v
		return strings.Contains(v, substr), nil
	})
	if !ok {
		p.t.Fatalf("browsertest: wait for the URL to contain %q: timed out after %v; last %q", substr, p.timeout, last)
	}
}

// poll calls check until it reports true, or the page's timeout passes.
// Errors of check (a navigation under way destroys the context of the
// evaluation) count as "not yet".
func (p *Page) poll(check func(ctx context.Context) (bool, error)) bool {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	for {
		if ok, _ := check(ctx); ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pollEvery):
		}
	}
}

// focusedJS describes document.activeElement: tag#id, name, type, role,
// and its accessible label or text.
const focusedJS = `() => {
	const e = document.activeElement;
	if (!e || e === document.body) return "body";
	let s = e.tagName.toLowerCase();
	if (e.id) s += "#" + e.id;
	for (const a of ["name", "type", "role"]) {
		const v = e.getAttribute(a);
		if (v) s += "[" + a + "=" + v + "]";
	}
	let label = e.getAttribute("aria-label") || "";
	const by = e.getAttribute("aria-labelledby");
	if (!label && by) label = by.split(/\s+/).map(id => { const l = document.getElementById(id); return l ? l.innerText : ""; }).join(" ");
	if (!label && e.labels && e.labels.length) label = Array.from(e.labels).map(l => l.innerText).join(" ");
	if (!label) label = e.innerText || e.value || e.getAttribute("alt") || e.getAttribute("title") || e.getAttribute("placeholder") || "";
	label = label.replace(/\s+/g, " ").trim();
	if (label.length > 60) label = label.slice(0, 57) + "...";
	if (label) s += " " + JSON.stringify(label);
	return s;
}`

// Focused returns a short description of the focused element, such as
// `button#next[type=submit] "Continue"` or `input#user[name=user][type=text]
// "User name"`, or "body" when nothing has the focus.
func (p *Page) Focused() string {
	p.t.Helper()
	return run(p, "describe the focused element", eval[string](focusedJS))
}

// matchesJS reports whether the focused element matches a selector.
const matchesJS = `(sel) => { const e = document.activeElement; return !!e && e !== document.body && e.matches(sel); }`

// TabTo presses Tab until the focused element matches sel, and fails the
// test, listing the elements the focus went through, when it has not after
// max presses. It shows that the element can be reached from the keyboard.
func (p *Page) TabTo(sel string, max int) {
	p.t.Helper()
	var path []string
	for range max {
		run(p, "press Tab", chromedp.KeyEvent(kb.Tab))
		if run(p, "match the focused element", eval[bool](matchesJS, sel)) {
			return
		}
		path = append(path, p.Focused())
	}
	p.t.Fatalf("browsertest: %s not reached in %d Tab presses; the focus went through: %s",
		sel, max, strings.Join(path, " → "))
}

// screenshots numbers the screenshots of each artifact directory.
var screenshots = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// unsafeName matches what a screenshot's file name may not hold.
var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot saves a PNG of the whole page (beyond the window) as
// NN-name.png in the test's artifact directory, numbered in the order
// taken, and logs its path; it returns the path. The files are kept when
// go test runs with -artifacts.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	png := run(p, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := p.t.ArtifactDir()
	screenshots.Lock()
	screenshots.n[dir]++
	n := screenshots.n[dir]
	screenshots.Unlock()
	name = strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-")
	if name == "" {
		name = "page"
	}
	path := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("browsertest: screenshot: %v", err)
	}
	p.t.Logf("browsertest: screenshot %s", path)
	return path
}

// clearJS empties the value of the first form control matching a
// selector, as deleting its text would (an input event follows).
const clearJS = `(sel) => { const e = document.querySelector(sel); if (!e) return false; e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); return true; }`

// valueJS returns the value of the first form control matching a
// selector, or null when none does.
const valueJS = `(sel) => { const e = document.querySelector(sel); return e ? e.value : null; }`

// Value returns the current value of a form control (an input, a
// select); it fails the test when nothing matches sel.
func (p *Page) Value(sel string) string {
	p.t.Helper()
	v := run(p, "value of "+sel, eval[*string](valueJS, sel))
	if v == nil {
		p.t.Fatalf("browsertest: value of %s: no element matched", sel)
	}
	return *v
}

// Focus moves the keyboard focus to the element, as a click would
// without opening it (a select stays closed, for arrow keys).
func (p *Page) Focus(sel string) {
	p.t.Helper()
	run(p, "focus "+sel, chromedp.Focus(chromedp.CSS(sel)))
}
