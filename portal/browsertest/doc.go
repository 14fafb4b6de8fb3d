// Package browsertest drives a real headless Chromium for the portal's
// acceptance tests: it opens pages served on loopback, clicks, types and
// presses real keys, waits for text, takes screenshots, collects what the
// page reports as broken (console errors, uncaught exceptions, Content
// Security Policy violations) and runs the axe-core accessibility engine
// against the page.
//
//	b := browsertest.Start(t)
//	p := b.Page(t)
//	p.Go(srv.URL + "/reset")
//	p.TabTo("#username", 5)
//	p.Press("a", "l", "i", "c", "e", "Tab", "Enter")
//	p.WaitText("main h1", "Call")
//	p.Screenshot("call-prompt")
//	p.CheckAccessibility(t, "call prompt")
//	if errs := p.Errors(); len(errs) > 0 {
//		t.Errorf("page errors: %q", errs)
//	}
//
// The browser is Debian's chromium (/usr/bin/chromium, or $SSPR_CHROMIUM),
// driven over the DevTools protocol by github.com/chromedp/chromedp, with
// a fresh profile in t.TempDir() and every background service that would
// reach the network turned off. axe-core comes from npm, pinned exactly in
// package-lock.json and installed into node_modules next to this file (or
// $SSPR_AXE_JS names axe.min.js). Start fails the test, never skips it,
// when either is missing: `make test-deps` (.ci/browser-deps) installs
// both.
//
// Scripts are injected with Runtime.evaluate, which the page's CSP does not
// govern, so the checks work on pages that forbid inline script
// (script-src 'self'), as the portal's do.
//
// Every action has a timeout (DefaultTimeout, or Config.Timeout, or
// Page.SetTimeout): a page that never shows what a test waits for fails
// the test instead of hanging it. The browser is closed when the test ends,
// and every process of its tree is checked, by PID, to be gone.
package browsertest
