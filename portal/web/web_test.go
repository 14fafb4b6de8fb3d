package web

import (
	"crypto/tls"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newWeb(t *testing.T, cfg Config) (*Web, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	w, err := New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return w, reg
}

// okHandler records whether it ran and echoes the body's length.
type okHandler struct{ called bool }

func (h *okHandler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	h.called = true
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(rw, strings.Repeat("x", len(b)%7))
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"proxies", Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::ffff:192.168.0.0/112")}}, true},
		{"invalid prefix", Config{TrustedProxies: []netip.Prefix{{}}}, false},
		{"mixed 4in6 prefix", Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/80")}}, false},
		{"negative MaxBody", Config{MaxBody: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v does not wrap ErrConfig", err)
			}
		})
	}
	if _, err := New(Config{}, prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	New(Config{}, reg)
	if _, err := New(Config{}, reg); err == nil {
		t.Fatal("second New on the same registry: no error")
	}
}

func TestHeaders(t *testing.T) {
	const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		cfg    Config
		remote string
		tls    bool
		xfp    string
		hsts   bool
	}{
		{"plain", Config{}, "192.0.2.1:1234", false, "", false},
		{"config TLS", Config{TLS: true}, "192.0.2.1:1234", false, "", true},
		{"direct TLS", Config{}, "192.0.2.1:1234", true, "", true},
		{"trusted proxy https", Config{TrustedProxies: proxy}, "10.1.2.3:1234", false, "https", true},
		{"trusted proxy http", Config{TrustedProxies: proxy}, "10.1.2.3:1234", false, "http", false},
		{"untrusted peer claims https", Config{TrustedProxies: proxy}, "192.0.2.1:1234", false, "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := newWeb(t, tt.cfg)
			h := w.Wrap("page", &okHandler{})
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			want := map[string]string{
				"Content-Security-Policy": csp,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-store",
			}
			if tt.hsts {
				want["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
			}
			for k, v := range want {
				if got := rec.Header().Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !tt.hsts && rec.Header().Get("Strict-Transport-Security") != "" {
				t.Errorf("Strict-Transport-Security sent without TLS")
			}
			for k, vs := range rec.Header() {
				for _, v := range vs {
					if strings.Contains(v, "unsafe-") {
						t.Errorf("%s: %q allows something unsafe", k, v)
					}
				}
			}
		})
	}
}

// TestHeadersOnRefusal checks that refusals carry the headers too.
func TestHeadersOnRefusal(t *testing.T) {
	w, _ := newWeb(t, Config{})
	h := w.Wrap("form", &okHandler{})
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("a=b"))
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
		t.Fatalf("code %d, CSP %q", rec.Code, rec.Header().Get("Content-Security-Policy"))
	}
}

func TestCrossOrigin(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		code    int
	}{
		{"cross-site POST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site POST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"other origin POST", http.MethodPost, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"other origin PUT", http.MethodPut, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site DELETE", http.MethodDelete, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-origin POST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"same origin by Origin", http.MethodPost, map[string]string{"Origin": "https://portal.example"}, http.StatusOK},
		{"user-initiated POST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "none"}, http.StatusOK},
		{"non-browser POST", http.MethodPost, nil, http.StatusOK},
		{"cross-site GET", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := newWeb(t, Config{})
			ok := &okHandler{}
			h := w.Wrap("form", ok)
			r := httptest.NewRequest(tt.method, "https://portal.example/reset", strings.NewReader("user=alice"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d", rec.Code, tt.code)
			}
			if ok.called != (tt.code == http.StatusOK) {
				t.Fatalf("handler called = %v with code %d", ok.called, rec.Code)
			}
		})
	}
}

func TestBodyCap(t *testing.T) {
	tests := []struct {
		name    string
		max     int64
		size    int
		chunked bool // length unknown in advance
		code    int
	}{
		{"default cap, small form", 0, 100, false, http.StatusOK},
		{"default cap, exactly 64 KiB", 0, 64 << 10, false, http.StatusOK},
		{"default cap, one byte over", 0, 64<<10 + 1, false, http.StatusRequestEntityTooLarge},
		{"default cap, over, chunked", 0, 64<<10 + 1, true, http.StatusRequestEntityTooLarge},
		{"default cap, at cap, chunked", 0, 64 << 10, true, http.StatusOK},
		{"small cap, over", 10, 11, false, http.StatusRequestEntityTooLarge},
		{"small cap, over, chunked", 10, 1 << 20, true, http.StatusRequestEntityTooLarge},
		{"small cap, under", 10, 10, false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := newWeb(t, Config{MaxBody: tt.max})
			ok := &okHandler{}
			h := w.Wrap("form", ok)
			var body io.Reader = strings.NewReader(strings.Repeat("a", tt.size))
			if tt.chunked {
				body = io.MultiReader(body) // hides the length from NewRequest
			}
			r := httptest.NewRequest(http.MethodPost, "/", body)
			if tt.chunked && r.ContentLength != -1 && r.ContentLength != 0 {
				t.Fatalf("ContentLength %d, want unknown", r.ContentLength)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d", rec.Code, tt.code)
			}
			if ok.called != (tt.code == http.StatusOK) {
				t.Fatalf("handler called = %v with code %d", ok.called, rec.Code)
			}
			if ok.called && rec.Body.String() != strings.Repeat("x", tt.size%7) {
				t.Fatalf("handler saw a different body")
			}
		})
	}
}

// TestBodyCapServer sends an oversize body over a real loopback connection.
func TestBodyCapServer(t *testing.T) {
	w, _ := newWeb(t, Config{})
	ok := &okHandler{}
	srv := httptest.NewServer(w.Wrap("form", ok))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(strings.Repeat("a", 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || ok.called {
		t.Fatalf("code %d, handler called %v", resp.StatusCode, ok.called)
	}
}

func TestCookie(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		cfg    Config
		remote string
		xfp    string
		maxAge time.Duration
		secure bool
		want   int // MaxAge
	}{
		{"no TLS", Config{}, "192.0.2.1:1", "", 10 * time.Minute, false, 600},
		{"TLS", Config{TLS: true}, "192.0.2.1:1", "", 10 * time.Minute, true, 600},
		{"trusted TLS proxy", Config{TrustedProxies: proxy}, "10.0.0.1:1", "https", time.Minute, true, 60},
		{"trusted TLS proxy, list", Config{TrustedProxies: proxy}, "10.0.0.1:1", "http, https", time.Minute, true, 60},
		{"trusted plain proxy", Config{TrustedProxies: proxy}, "10.0.0.1:1", "http", time.Minute, false, 60},
		{"untrusted peer claims https", Config{TrustedProxies: proxy}, "192.0.2.1:1", "https", time.Minute, false, 60},
		{"session cookie", Config{TLS: true}, "192.0.2.1:1", "", 0, true, 0},
		{"rounded up", Config{}, "192.0.2.1:1", "", 1500 * time.Millisecond, false, 2},
		{"delete", Config{TLS: true}, "192.0.2.1:1", "", -1, true, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := newWeb(t, tt.cfg)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			rec := httptest.NewRecorder()
			w.SetCookie(rec, r, "sid", "v4lue", tt.maxAge)
			cs := rec.Result().Cookies()
			if len(cs) != 1 {
				t.Fatalf("%d cookies", len(cs))
			}
			c := cs[0]
			if c.Name != "sid" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" ||
				c.Secure != tt.secure || c.MaxAge != tt.want {
				t.Fatalf("cookie %+v (raw %q)", c, rec.Header().Get("Set-Cookie"))
			}
			if tt.maxAge >= 0 && c.Value != "v4lue" {
				t.Fatalf("value %q", c.Value)
			}
			raw := rec.Header().Get("Set-Cookie")
			for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
				if !strings.Contains(raw, attr) {
					t.Errorf("Set-Cookie %q lacks %s", raw, attr)
				}
			}
			if strings.Contains(raw, "Secure") != tt.secure {
				t.Errorf("Set-Cookie %q: Secure want %v", raw, tt.secure)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		proxies []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"no proxy", nil, "192.0.2.7:4000", nil, "192.0.2.7"},
		{"no proxy configured, XFF ignored", nil, "192.0.2.7:4000", []string{"198.51.100.1"}, "192.0.2.7"},
		{"IPv6 peer", nil, "[2001:db8::1]:4000", nil, "2001:db8::1"},
		{"4in6 peer", nil, "[::ffff:192.0.2.7]:4000", nil, "192.0.2.7"},
		{"trusted proxy", proxies, "10.0.0.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"trusted proxy, no XFF", proxies, "10.0.0.1:4000", nil, "10.0.0.1"},
		{"spoofed XFF from untrusted peer", proxies, "192.0.2.7:4000", []string{"198.51.100.1, 10.0.0.2"}, "192.0.2.7"},
		{"client-supplied left part ignored", proxies, "10.0.0.1:4000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", proxies, "10.0.0.1:4000", []string{"198.51.100.1, 10.0.0.3", "fd00::5"}, "198.51.100.1"},
		{"IPv6 client with port", proxies, "10.0.0.1:4000", []string{"[2001:db8::9]:1234"}, "2001:db8::9"},
		{"garbage entry: last hop", proxies, "10.0.0.1:4000", []string{"198.51.100.1, unknown, 10.0.0.3"}, "10.0.0.3"},
		{"garbage right after peer", proxies, "10.0.0.1:4000", []string{"not-an-ip"}, "10.0.0.1"},
		{"all trusted", proxies, "10.0.0.1:4000", []string{"10.0.0.4, 10.0.0.3"}, "10.0.0.4"},
		{"4in6 proxy prefix", []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}, "10.0.0.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"unparseable RemoteAddr", proxies, "pipe", []string{"198.51.100.1"}, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := newWeb(t, Config{TrustedProxies: tt.proxies})
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := w.ClientAddr(r).String(); got != tt.want {
				t.Fatalf("ClientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	w, reg := newWeb(t, Config{})
	ok := &okHandler{}
	notFound := http.NotFoundHandler()
	hs := map[string]http.Handler{
		"reset":    w.Wrap("reset", ok),
		"register": w.Wrap("register", ok),
		"missing":  w.Wrap("missing", notFound),
	}
	reqs := []struct {
		route string
		cross bool
		n     int
	}{
		{"reset", false, 3},
		{"reset", true, 2},
		{"register", false, 1},
		{"missing", false, 4},
	}
	for _, q := range reqs {
		for range q.n {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("a=b"))
			if q.cross {
				r.Header.Set("Sec-Fetch-Site", "cross-site")
			}
			hs[q.route].ServeHTTP(httptest.NewRecorder(), r)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP sspr_portal_requests_total HTTP requests served by the portal, by route and status code.
# TYPE sspr_portal_requests_total counter
sspr_portal_requests_total{code="200",route="register"} 1
sspr_portal_requests_total{code="200",route="reset"} 3
sspr_portal_requests_total{code="403",route="reset"} 2
sspr_portal_requests_total{code="404",route="missing"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sspr_portal_requests_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(w.m.duration); n != 3 {
		t.Fatalf("%d duration series, want 3", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "sspr_portal_request_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	if want := map[string]uint64{"reset": 5, "register": 1, "missing": 4}; !maps.Equal(got, want) {
		t.Fatalf("observations by route %v, want %v", got, want)
	}
}

func TestWrapEmptyRoutePanics(t *testing.T) {
	w, _ := newWeb(t, Config{})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	w.Wrap("", &okHandler{})
}

// TestFlush checks that a wrapped handler can stream (server-sent events).
func TestFlush(t *testing.T) {
	w, _ := newWeb(t, Config{})
	h := w.Wrap("events", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if _, ok := rw.(http.Flusher); !ok {
			t.Error("ResponseWriter is not an http.Flusher")
		}
		if err := http.NewResponseController(rw).Flush(); err != nil {
			t.Error(err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !rec.Flushed {
		t.Fatal("not flushed")
	}
}

// TestBodyCapDeclared checks that a declared Content-Length over the cap is
// refused before any of the body is read.
func TestBodyCapDeclared(t *testing.T) {
	w, _ := newWeb(t, Config{MaxBody: 10})
	ok := &okHandler{}
	body := &countingReader{r: strings.NewReader("short")}
	r := httptest.NewRequest(http.MethodPost, "/", body)
	r.ContentLength = 1 << 20
	rec := httptest.NewRecorder()
	w.Wrap("form", ok).ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge || ok.called || body.n != 0 {
		t.Fatalf("code %d, handler called %v, %d bytes read", rec.Code, ok.called, body.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
