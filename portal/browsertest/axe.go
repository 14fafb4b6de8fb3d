package browsertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Violation is one rule of axe-core that the page breaks.
type Violation struct {
	// ID is the rule, such as "label" or "color-contrast".
	ID string `json:"id"`
	// Impact is "minor", "moderate", "serious" or "critical".
	Impact string `json:"impact"`
	// Help says what the rule asks for; HelpURL explains it.
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	// Targets are the CSS selectors of the elements that break it.
	Targets []string `json:"targets"`
}

// Blocking reports whether the violation fails CheckAccessibility: its
// impact is serious or critical.
func (v Violation) Blocking() bool {
	return v.Impact == "serious" || v.Impact == "critical"
}

// String formats the violation for a test failure.
func (v Violation) String() string {
	return fmt.Sprintf("%s (%s): %s; at %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
}

// axeRunJS runs axe on the whole document and flattens its violations into
// Violations (a target inside a frame or shadow root is a list of
// selectors, joined with " >>> ").
const axeRunJS = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
	id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
	targets: v.nodes.map(n => n.target.map(t => Array.isArray(t) ? t.join(" >>> ") : String(t)).join(" ")),
})))`

// Audit injects axe-core into the page shown (unless it is there already)
// and returns every violation it finds, of any impact. The script goes in
// through the DevTools protocol (Runtime.evaluate), so the page's Content
// Security Policy does not stop it.
func (p *Page) Audit() ([]Violation, error) {
	_, axe, err := Lookup()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, deps)
	}
	src, err := os.ReadFile(axe)
	if err != nil {
		return nil, fmt.Errorf("browsertest: read axe-core: %w", err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === "object" && typeof axe.run === "function"`))
	if err != nil {
		return nil, fmt.Errorf("browsertest: axe-core: %w", p.explain(err))
	}
	if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](string(src)+"\n;undefined")); err != nil {
			return nil, fmt.Errorf("browsertest: inject axe-core: %w", p.explain(err))
		}
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation](axeRunJS, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("browsertest: run axe-core: %w", p.explain(err))
	}
	return vs, nil
}

// CheckAccessibility runs axe-core on the page shown (see Audit) and fails
// t (Errorf, so that the test goes on) listing every violation of serious
// or critical impact: rule, what it asks for, and the elements. Minor and
// moderate violations are logged. name says which page it was, in the
// messages.
func (p *Page) CheckAccessibility(t testing.TB, name string) {
	t.Helper()
	vs, err := p.Audit()
	if err != nil {
		t.Fatalf("browsertest: accessibility of %s: %v", name, err)
		return
	}
	var blocking []string
	for _, v := range vs {
		if v.Blocking() {
			blocking = append(blocking, "\t"+v.String())
		} else {
			t.Logf("browsertest: accessibility of %s: %s", name, v)
		}
	}
	if len(blocking) > 0 {
		t.Errorf("browsertest: accessibility of %s: %d serious or critical axe-core violations:\n%s",
			name, len(blocking), strings.Join(blocking, "\n"))
	}
}
