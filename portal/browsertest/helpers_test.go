package browsertest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// strictCSP is the policy the portal sends: no inline script, no inline
// style, nothing from elsewhere.
const strictCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// page wraps a body in a complete, accessible HTML document.
func page(title, body string) string {
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>` + title +
		`</title><link rel="stylesheet" href="/style.css"></head><body><main>` + body + `</main></body></html>`
}

// site serves pages (path → HTML) on 127.0.0.1 with the strict CSP, plus
// /style.css, /pixel.png and the scripts of the error tests; handlers
// overrides or adds paths.
func site(t *testing.T, pages map[string]string, handlers map[string]http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	static := map[string]struct{ typ, body string }{
		"/style.css": {"text/css", `body { font: 16px sans-serif; color: #222; background: #fff; }
.faint { color: #c8c8c8; background: #fff; }`},
		"/pixel.png":   {"image/png", pixelPNG()},
		"/error.js":    {"text/javascript", `console.error("boom from error.js");`},
		"/throw.js":    {"text/javascript", `throw new Error("thrown by throw.js");`},
		"/favicon.ico": {"image/png", pixelPNG()},
	}
	for path, f := range static {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", f.typ)
			fmt.Fprint(w, f.body)
		})
	}
	for path, html := range pages {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, html)
		})
	}
	for pattern, h := range handlers {
		mux.HandleFunc(pattern, h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", strictCSP)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// pixelPNG is a 4x4 grey PNG.
func pixelPNG() string {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range img.Pix {
		img.Pix[i] = color.Gray{Y: 128}.Y
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.String()
}

// fakeTB records failures instead of failing the test, so that a test can
// check that a helper fails. Fatal stops the goroutine, as testing does:
// call the helper through (*fakeTB).run.
type fakeTB struct {
	testing.TB // the real test: logs, cleanups, directories

	mu     sync.Mutex
	failed bool
	msgs   []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) record(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
	f.msgs = append(f.msgs, msg)
}

func (f *fakeTB) Fail()                             { f.record("Fail") }
func (f *fakeTB) Error(args ...any)                 { f.record(fmt.Sprint(args...)) }
func (f *fakeTB) Errorf(format string, args ...any) { f.record(fmt.Sprintf(format, args...)) }
func (f *fakeTB) FailNow()                          { f.record("FailNow"); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any)                 { f.record(fmt.Sprint(args...)); runtime.Goexit() }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// run calls fn on its own goroutine, so that a Fatal ends only fn.
func (f *fakeTB) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// messages returns the failure messages, joined.
func (f *fakeTB) messages() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.msgs, "\n")
}
