// Package web is the HTTP security plumbing the portal's handlers sit
// behind: request metrics, security headers (a strict Content-Security-Policy
// with no inline script), cross-origin request refusal, a request body cap,
// the client address seen through trusted reverse proxies, and cookies with
// safe attributes.
package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBody is the request body cap used when Config.MaxBody is zero:
// enough for any form the portal shows.
const DefaultMaxBody = 64 << 10

// ContentSecurityPolicy is the Content-Security-Policy sent with every
// response: everything from the portal's own origin, no inline script or
// style, no framing, no plugins.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// StrictTransportSecurity is the Strict-Transport-Security value sent when the
// portal is served over TLS (two years).
const StrictTransportSecurity = "max-age=63072000; includeSubDomains"

// ErrConfig is wrapped by the errors New returns for an invalid Config.
var ErrConfig = errors.New("web: invalid config")

// Config configures the HTTP security plumbing.
type Config struct {
	// TrustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For
	// and X-Forwarded-Proto headers are believed; empty: none are.
	TrustedProxies []netip.Prefix
	// TLS says the portal is served over TLS, directly or behind a trusted
	// TLS-terminating proxy: cookies get Secure and Strict-Transport-Security
	// is sent.
	TLS bool
	// MaxBody caps request bodies in bytes; larger requests are refused with
	// 413 before the handler runs. Zero: DefaultMaxBody.
	MaxBody int64
}

// Web wraps handlers with the portal's security plumbing. It is safe for
// concurrent use.
type Web struct {
	cfg     Config
	proxies []netip.Prefix
	maxBody int64
	m       *metrics
}

// New checks cfg and returns a Web whose metrics are registered with reg
// (nil: not registered).
func New(cfg Config, reg prometheus.Registerer) (*Web, error) {
	if cfg.MaxBody < 0 {
		return nil, fmt.Errorf("%w: MaxBody %d is negative", ErrConfig, cfg.MaxBody)
	}
	w := &Web{cfg: cfg, maxBody: cfg.MaxBody}
	if w.maxBody == 0 {
		w.maxBody = DefaultMaxBody
	}
	for i, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: TrustedProxies[%d] is not a valid prefix", ErrConfig, i)
		}
		if a := p.Addr(); a.Is4In6() { // such as ::ffff:10.0.0.0/104
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%w: TrustedProxies[%d] %s mixes IPv6 and IPv4", ErrConfig, i, p)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		w.proxies = append(w.proxies, p.Masked())
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	w.m = m
	return w, nil
}

// Wrap returns h behind, in order: request metrics labelled with route,
// security headers, cross-origin refusal (http.CrossOriginProtection: unsafe
// methods from another site get 403 and h is not called) and the body cap
// (413 beyond Config.MaxBody, h not called).
//
// route must come from a closed set of names fixed in code (one per page or
// endpoint), never from the request; Wrap panics on an empty route. The
// headers include Cache-Control: no-store; a handler serving cacheable
// assets may overwrite it.
func (w *Web) Wrap(route string, h http.Handler) http.Handler {
	if route == "" {
		panic("web: Wrap with an empty route")
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		http.Error(rw, "Cross-origin request refused.", http.StatusForbidden)
	}))
	h = w.capBody(h)
	h = cop.Handler(h)
	h = w.headers(h)
	return w.m.instrument(route, h)
}

// headers sets the security headers before calling h.
func (w *Web) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hd := rw.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		if w.Secure(r) {
			hd.Set("Strict-Transport-Security", StrictTransportSecurity)
		}
		h.ServeHTTP(rw, r)
	})
}

// capBody refuses bodies larger than the cap with 413. A body of unknown
// length is read (at most the cap plus one byte) before h runs, so h never
// sees a truncated body.
func (w *Web) capBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.ContentLength > w.maxBody {
			tooLarge(rw)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, w.maxBody+1))
			if err != nil {
				http.Error(rw, "Could not read the request.", http.StatusBadRequest)
				return
			}
			if int64(len(b)) > w.maxBody {
				tooLarge(rw)
				return
			}
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(rw, r)
	})
}

func tooLarge(rw http.ResponseWriter) {
	rw.Header().Set("Connection", "close")
	http.Error(rw, "The request is too large.", http.StatusRequestEntityTooLarge)
}
