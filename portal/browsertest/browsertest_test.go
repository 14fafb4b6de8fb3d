package browsertest

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// accessibleForm is a page that axe-core finds nothing serious in.
var accessibleForm = page("Reset your password", `
<h1>Reset your password</h1>
<form method="post" action="/submit">
  <label for="user">User name</label>
  <input id="user" name="user" type="text" autocomplete="username">
  <button id="next" type="submit">Continue</button>
</form>`)

func TestCheckAccessibilityPasses(t *testing.T) {
	srv := site(t, map[string]string{"/": accessibleForm}, nil)
	p := Start(t).Page(t)
	p.Go(srv.URL + "/")
	// The page forbids inline script (script-src 'self'): axe-core still
	// gets in, through Runtime.evaluate.
	p.CheckAccessibility(t, "accessible form")
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("Errors() = %q, want none", errs)
	}
}

func TestCheckAccessibilityFails(t *testing.T) {
	b := Start(t)
	tests := []struct {
		name  string
		body  string
		rules []string // must all be named in the failure
	}{
		{"unlabelled input", `<h1>Form</h1><form><input id="user" type="text"></form>`, []string{"label"}},
		{"image without alt", `<h1>Picture</h1><img src="/pixel.png" width="40" height="40">`, []string{"image-alt"}},
		{"low contrast", `<h1>Faint</h1><p class="faint">This text is hard to read.</p>`, []string{"color-contrast"}},
		{"all three", `<h1>All</h1><input type="text"><img src="/pixel.png"><p class="faint">Faint text.</p>`,
			[]string{"label", "image-alt", "color-contrast"}},
	}
	pages := map[string]string{}
	for i, tt := range tests {
		pages["/"+string(rune('a'+i))] = page(tt.name, tt.body)
	}
	srv := site(t, pages, nil)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.Page(t)
			p.Go(srv.URL + "/" + string(rune('a'+i)))
			fake := &fakeTB{TB: t}
			fake.run(func() { p.CheckAccessibility(fake, tt.name) })
			if !fake.Failed() {
				t.Fatalf("CheckAccessibility passed a page with %s", tt.name)
			}
			msg := fake.messages()
			for _, rule := range tt.rules {
				if !strings.Contains(msg, rule+" (") {
					t.Errorf("failure does not name rule %q:\n%s", rule, msg)
				}
			}
			if strings.Contains(msg, "inject") || strings.Contains(msg, "run axe") {
				t.Errorf("axe-core itself failed:\n%s", msg)
			}
		})
	}
}

func TestKeyboardSubmit(t *testing.T) {
	posted := make(chan string, 1)
	srv := site(t, map[string]string{
		"/":     accessibleForm,
		"/done": page("Done", `<h1 id="done">Thanks</h1>`),
	}, map[string]http.HandlerFunc{
		"POST /submit": func(w http.ResponseWriter, r *http.Request) {
			posted <- r.PostFormValue("user")
			http.Redirect(w, r, "/done", http.StatusSeeOther)
		},
	})
	p := Start(t).Page(t)
	p.Go(srv.URL + "/")

	p.TabTo("#user", 5)
	if got, want := p.Focused(), `input#user[name=user][type=text] "User name"`; got != want {
		t.Errorf("Focused() = %s, want %s", got, want)
	}
	p.Press("al", "i", "c", "e")
	p.TabTo("#next", 3)
	if got := p.Focused(); !strings.Contains(got, `button#next`) || !strings.Contains(got, `"Continue"`) {
		t.Errorf("Focused() = %s, want the Continue button", got)
	}
	p.Press("Shift+Tab")
	if got := p.Focused(); !strings.HasPrefix(got, "input#user") {
		t.Errorf("after Shift+Tab, Focused() = %s, want the input", got)
	}
	p.Press("Tab", "Enter")

	select {
	case user := <-posted:
		if user != "alice" {
			t.Errorf("server got user %q, want %q", user, "alice")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the form was not posted")
	}
	p.WaitURL("/done")
	p.WaitText("#done", "Thanks")
	if got := p.Text("h1"); got != "Thanks" {
		t.Errorf("Text(h1) = %q", got)
	}
	p.Go(srv.URL + "/")
	p.Fill("#user", "bob")
	p.Click("#next")
	if user := <-posted; user != "bob" {
		t.Errorf("after Fill and Click, server got user %q, want %q", user, "bob")
	}
	p.WaitVisible("#done")
}

func TestTabToFails(t *testing.T) {
	srv := site(t, map[string]string{"/": accessibleForm}, nil)
	b := Start(t)
	fake := &fakeTB{TB: t}
	p := b.Page(fake)
	fake.run(func() {
		p.Go(srv.URL + "/")
		p.TabTo("#missing", 3)
	})
	if !fake.Failed() {
		t.Fatal("TabTo reached an element that does not exist")
	}
	if msg := fake.messages(); !strings.Contains(msg, "input#user") {
		t.Errorf("failure does not show where the focus went:\n%s", msg)
	}
}

func TestScreenshot(t *testing.T) {
	srv := site(t, map[string]string{"/": accessibleForm}, nil)
	p := Start(t).Page(t)
	p.Go(srv.URL + "/")
	first := p.Screenshot("form")
	second := p.Screenshot("form / again")
	if got, want := filepath.Base(first), "01-form.png"; got != want {
		t.Errorf("first screenshot %s, want %s", got, want)
	}
	if got, want := filepath.Base(second), "02-form-again.png"; got != want {
		t.Errorf("second screenshot %s, want %s", got, want)
	}
	for _, path := range []string{first, second} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 1000 {
			t.Errorf("%s: not a PNG of the page (%d bytes)", path, len(b))
		}
	}
}

func TestErrors(t *testing.T) {
	b := Start(t)
	tests := []struct {
		name string
		head string // script tags
		want string // in Errors(); "" means none
	}{
		{"clean", `<script src="/pixel.js"></script>`, ""},
		{"inline script blocked by CSP", `<script>document.title = "ran";</script>`, "Content Security Policy"},
		{"console.error", `<script src="/error.js"></script>`, "boom from error.js"},
		{"uncaught exception", `<script src="/throw.js"></script>`, "thrown by throw.js"},
	}
	pages := map[string]string{}
	for _, tt := range tests {
		pages["/"+strings.ReplaceAll(tt.name, " ", "-")] = strings.Replace(page(tt.name, "<h1>"+tt.name+"</h1>"), "</head>", tt.head+"</head>", 1)
	}
	srv := site(t, pages, map[string]http.HandlerFunc{
		"GET /pixel.js": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript")
			w.Write([]byte(`document.documentElement.dataset.ok = "1";`))
		},
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.Page(t)
			p.Go(srv.URL + "/" + strings.ReplaceAll(tt.name, " ", "-"))
			p.WaitVisible("h1")
			var errs []string
			deadline := time.Now().Add(3 * time.Second)
			for {
				errs = p.Errors()
				if tt.want == "" || len(errs) > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if tt.want == "" {
				if len(errs) > 0 {
					t.Errorf("Errors() = %q, want none", errs)
				}
				return
			}
			if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tt.want) }) {
				t.Errorf("Errors() = %q, want one containing %q", errs, tt.want)
			}
		})
	}
}

func TestWaitTextTimeout(t *testing.T) {
	srv := site(t, map[string]string{"/": page("Waiting", `<h1>Status</h1><p id="status">Waiting for your call</p>`)}, nil)
	b := Start(t)
	fake := &fakeTB{TB: t}
	p := b.Page(fake)
	p.SetTimeout(time.Second)
	start := time.Now()
	fake.run(func() {
		p.Go(srv.URL + "/")
		p.WaitText("#status", "Password changed")
	})
	took := time.Since(start)
	if !fake.Failed() {
		t.Fatal("WaitText did not fail on a page that never shows the text")
	}
	if msg := fake.messages(); !strings.Contains(msg, "Waiting for your call") {
		t.Errorf("failure does not show the last text seen:\n%s", msg)
	}
	if took > 5*time.Second {
		t.Errorf("WaitText took %v to fail with a 1 s timeout", took)
	}
}

func TestCleanupEndsChromium(t *testing.T) {
	var pids []int
	t.Run("browser", func(t *testing.T) {
		b := Start(t)
		b.Page(t).Go("about:blank")
		pids = append([]int{b.PID()}, tree(b.PID(), b.dataDir)...)
		if len(pids) < 2 {
			t.Errorf("found only %v in chromium's process tree", pids)
		}
		for _, pid := range pids {
			if !alive(pid) {
				t.Errorf("process %d is not running", pid)
			}
		}
	})
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("chromium process %d still running after the test's cleanup", pid)
		}
	}
}

func TestStartFailsWhenMissing(t *testing.T) {
	tests := []struct {
		name, env, path, want string
	}{
		{"chromium", "SSPR_CHROMIUM", "/nonexistent/chromium", "chromium"},
		{"axe-core", "SSPR_AXE_JS", "/nonexistent/axe.min.js", "axe-core"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, tt.path)
			fake := &fakeTB{TB: t}
			fake.run(func() { Start(fake) })
			msg := fake.messages()
			if !fake.Failed() || !strings.Contains(msg, "make test-deps") || !strings.Contains(msg, tt.want) {
				t.Errorf("Start with %s=%s: failed=%v, message %q; want a failure naming %s and make test-deps",
					tt.env, tt.path, fake.Failed(), msg, tt.want)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key     string
		wantErr bool
	}{
		{"Tab", false}, {"Shift+Tab", false}, {"Enter", false}, {"Space", false},
		{"7", false}, {"1234", false}, {"+", false}, {"Ctrl+a", false},
		{"Shift+Nope", true}, {"", true},
	}
	for _, tt := range tests {
		_, err := parseKey(tt.key)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseKey(%q) error = %v, want error %v", tt.key, err, tt.wantErr)
		}
	}
}
