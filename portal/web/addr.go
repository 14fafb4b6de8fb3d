package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address of the client that sent r: the peer's
// address, or, when the peer is a trusted proxy, the right-most
// X-Forwarded-For entry that is not itself a trusted proxy (entries to its
// left could have been written by anyone). If an entry cannot be parsed, the
// hop that added it is returned. The zero Addr means r.RemoteAddr is not an
// address.
func (w *Web) ClientAddr(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !w.trusted(peer) {
		return peer
	}
	addr := peer
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return addr
		}
		addr = a.Unmap()
		if !w.trusted(addr) {
			return addr
		}
	}
	return addr
}

// Secure reports whether r reached the portal over TLS: Config.TLS, a
// direct TLS connection, or a trusted proxy saying X-Forwarded-Proto: https.
func (w *Web) Secure(r *http.Request) bool {
	if w.cfg.TLS || r.TLS != nil {
		return true
	}
	if !w.trusted(peerAddr(r)) {
		return false
	}
	v := r.Header.Values("X-Forwarded-Proto")
	if len(v) == 0 {
		return false
	}
	last := v[len(v)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}

func (w *Web) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range w.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the connection's peer.
func peerAddr(r *http.Request) netip.Addr {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// forwardedFor returns the X-Forwarded-For entries, left to right, across
// all the header's lines.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for e := range strings.SplitSeq(line, ",") {
			e = strings.TrimSpace(e)
			if ap, err := netip.ParseAddrPort(e); err == nil {
				e = ap.Addr().String() // "1.2.3.4:5678", "[::1]:80"
			}
			hops = append(hops, strings.Trim(e, "[]"))
		}
	}
	return hops
}
