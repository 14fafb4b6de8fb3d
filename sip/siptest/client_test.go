package siptest

// A minimal SIP caller over UDP, for the self-tests of the peers only: one
// dialog, no retransmissions (loopback does not lose datagrams), just
// enough parsing to follow the peers. It is not the project's SIP stack.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// msg is a parsed SIP message.
type msg struct {
	request bool
	method  string // request method, or the CSeq method of a response
	uri     string // request URI
	code    int    // response status
	reason  string
	headers [][2]string // in order, names as received
	body    []byte
	raw     string
}

// header returns the first value of the header name (case-insensitive).
func (m *msg) header(name string) string {
	for _, h := range m.headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// all returns every value of the header name, splitting comma lists.
func (m *msg) all(name string) []string {
	var out []string
	for _, h := range m.headers {
		if strings.EqualFold(h[0], name) {
			for _, v := range strings.Split(h[1], ",") {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return out
}

// cseq returns the CSeq number and method.
func (m *msg) cseq() (int, string) {
	f := strings.Fields(m.header("CSeq"))
	if len(f) != 2 {
		return 0, ""
	}
	n, _ := strconv.Atoi(f[0])
	return n, f[1]
}

// parseMsg parses one SIP message from a datagram.
func parseMsg(b []byte) (*msg, error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return nil, fmt.Errorf("no end of headers")
	}
	lines := strings.Split(string(head), "\r\n")
	m := &msg{body: body, raw: string(b)}
	first := strings.SplitN(lines[0], " ", 3)
	if len(first) < 3 {
		return nil, fmt.Errorf("bad start line %q", lines[0])
	}
	if strings.HasPrefix(first[0], "SIP/") {
		code, err := strconv.Atoi(first[1])
		if err != nil {
			return nil, fmt.Errorf("bad status %q", lines[0])
		}
		m.code, m.reason = code, first[2]
	} else {
		m.request, m.method, m.uri = true, first[0], first[1]
	}
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(m.headers) > 0 {
			m.headers[len(m.headers)-1][1] += " " + strings.TrimSpace(l)
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("bad header line %q", l)
		}
		m.headers = append(m.headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	if !m.request {
		_, m.method = m.cseq()
	}
	if cl := m.header("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n > len(m.body) {
			return nil, fmt.Errorf("bad Content-Length %q", cl)
		}
		m.body = m.body[:n]
	}
	return m, nil
}

// uriAddr returns host:port of a SIP URI, possibly in angle brackets with
// parameters; port 5060 if none.
func uriAddr(u string) string {
	if i := strings.IndexByte(u, '<'); i >= 0 {
		u = u[i+1:]
		if j := strings.IndexByte(u, '>'); j >= 0 {
			u = u[:j]
		}
	}
	u = strings.TrimPrefix(u, "sip:")
	if i := strings.IndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.IndexAny(u, ";?>"); i >= 0 {
		u = u[:i]
	}
	if !strings.Contains(u, ":") {
		u += ":5060"
	}
	return u
}

// uriOf returns the URI inside a name-addr (<...>), or the value itself.
func uriOf(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			return v[:j]
		}
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		return v[:i]
	}
	return v
}

// sdp is what the tests need of a session description.
type sdp struct {
	addr    string         // c= address : m= port
	formats []int          // m= payload types
	rtpmap  map[int]string // PT -> "PCMU/8000"
}

// parseSDP parses the audio part of an SDP body.
func parseSDP(b []byte) (sdp, error) {
	s := sdp{rtpmap: map[int]string{}}
	var host, port string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "c=IN IP4 "):
			host = strings.TrimSpace(strings.TrimPrefix(l, "c=IN IP4 "))
		case strings.HasPrefix(l, "m=audio "):
			f := strings.Fields(l)
			if len(f) < 4 {
				return s, fmt.Errorf("bad m= line %q", l)
			}
			port = f[1]
			for _, p := range f[3:] {
				n, err := strconv.Atoi(p)
				if err != nil {
					return s, fmt.Errorf("bad format %q", p)
				}
				s.formats = append(s.formats, n)
			}
		case strings.HasPrefix(l, "a=rtpmap:"):
			pt, enc, _ := strings.Cut(strings.TrimPrefix(l, "a=rtpmap:"), " ")
			n, err := strconv.Atoi(pt)
			if err == nil {
				s.rtpmap[n] = strings.TrimSpace(enc)
			}
		}
	}
	if host == "" || port == "" {
		return s, fmt.Errorf("no c= or m=audio in %q", b)
	}
	s.addr = net.JoinHostPort(host, port)
	return s, nil
}

// pt returns the payload type whose rtpmap starts with enc
// ("telephone-event", "PCMU"), or -1.
func (s sdp) pt(enc string) int {
	for _, f := range s.formats {
		if strings.HasPrefix(strings.ToLower(s.rtpmap[f]), strings.ToLower(enc)+"/") {
			return f
		}
	}
	return -1
}

// rtpPkt is a received RTP packet.
type rtpPkt struct {
	at      time.Time
	pt      uint8
	marker  bool
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
	from    *net.UDPAddr
}

// parseRTP parses an RTP packet (no header extension support needed by
// the peers, but skipped if present).
func parseRTP(b []byte) (rtpPkt, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpPkt{}, false
	}
	n := 12 + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 {
		if len(b) < n+4 {
			return rtpPkt{}, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
	}
	if len(b) < n {
		return rtpPkt{}, false
	}
	return rtpPkt{
		pt: b[1] & 0x7F, marker: b[1]&0x80 != 0,
		seq: binary.BigEndian.Uint16(b[2:]), ts: binary.BigEndian.Uint32(b[4:]), ssrc: binary.BigEndian.Uint32(b[8:]),
		payload: append([]byte(nil), b[n:]...),
	}, true
}

// caller is one test call's SIP and RTP sockets and dialog state.
type caller struct {
	t    testing.TB
	sip  *net.UDPConn
	rtp  *net.UDPConn
	next *net.UDPAddr // where out-of-dialog requests go (the peer or the proxy)

	user     string // From user
	callID   string
	fromTag  string
	toHeader string // To of the dialog, with the remote tag
	cseq     int
	target   string   // remote target (Contact of the 2xx)
	routes   []string // route set
	invite   string   // the last INVITE's Request-URI
	branch   string   // the last INVITE's branch

	responses chan *msg
	requests  chan *msg // in-dialog requests from the peer, answered 200

	mu   sync.Mutex
	pkts []rtpPkt
	wg   sync.WaitGroup
}

// newCaller opens SIP and RTP sockets on a reserved block of loopback
// ports and starts reading them; everything is closed when the test ends.
func newCaller(t testing.TB, next string, user string) *caller {
	t.Helper()
	base := PortBlock(t)
	sipc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base})
	if err != nil {
		t.Fatal(err)
	}
	rtpc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + 2})
	if err != nil {
		t.Fatal(err)
	}
	na, err := net.ResolveUDPAddr("udp4", next)
	if err != nil {
		t.Fatal(err)
	}
	c := &caller{
		t: t, sip: sipc, rtp: rtpc, next: na, user: user,
		callID:    fmt.Sprintf("%x@siptest", rand.Uint64()),
		fromTag:   fmt.Sprintf("%x", rand.Uint32()),
		responses: make(chan *msg, 64),
		requests:  make(chan *msg, 64),
	}
	c.wg.Add(2)
	go c.readSIP()
	go c.readRTP()
	t.Cleanup(func() {
		sipc.Close()
		rtpc.Close()
		c.wg.Wait()
	})
	return c
}

func (c *caller) sipAddr() string { return c.sip.LocalAddr().String() }
func (c *caller) rtpPort() int    { return c.rtp.LocalAddr().(*net.UDPAddr).Port }

// readSIP routes responses to c.responses and answers requests 200.
func (c *caller) readSIP() {
	defer c.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := c.sip.ReadFromUDP(buf)
		if err != nil {
			return
		}
		m, err := parseMsg(buf[:n])
		if err != nil {
			c.t.Errorf("caller: unparsable SIP from %v: %v\n%s", from, err, buf[:n])
			continue
		}
		if !m.request {
			select {
			case c.responses <- m:
			default:
			}
			continue
		}
		if m.method == "ACK" {
			continue
		}
		c.reply(m, from, 200, "OK")
		select {
		case c.requests <- m:
		default:
		}
	}
}

// readRTP stores every RTP packet received.
func (c *caller) readRTP() {
	defer c.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := c.rtp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p, ok := parseRTP(buf[:n])
		if !ok {
			continue
		}
		p.at, p.from = time.Now(), from
		c.mu.Lock()
		c.pkts = append(c.pkts, p)
		c.mu.Unlock()
	}
}

// packets returns a copy of the RTP packets received so far.
func (c *caller) packets() []rtpPkt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rtpPkt(nil), c.pkts...)
}

// reply answers request m.
func (c *caller) reply(m *msg, to *net.UDPAddr, code int, reason string) {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, h := range m.headers {
		switch strings.ToLower(h[0]) {
		case "via", "from", "to", "call-id", "cseq", "record-route":
			fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	c.send(to, b.String())
}

func (c *caller) send(to *net.UDPAddr, s string) {
	if _, err := c.sip.WriteToUDP([]byte(s), to); err != nil {
		c.t.Errorf("caller: send: %v", err)
	}
}

// offer returns an SDP offer of the caller's RTP port with the given
// payload types (0 PCMU, 8 PCMA, anything else telephone-event).
func (c *caller) offer(pts ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=siptest-caller\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP", rand.Uint32()>>1, c.rtpPort())
	for _, pt := range pts {
		fmt.Fprintf(&b, " %d", pt)
	}
	b.WriteString("\r\n")
	for _, pt := range pts {
		switch pt {
		case 0:
			b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
		case 8:
			b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
		default:
			fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", pt, pt)
		}
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return b.String()
}

// sendInvite sends an INVITE for ruri with body (an SDP offer) and an
// optional authorization header line.
func (c *caller) sendInvite(ruri, body, auth string) {
	c.cseq++
	c.invite = ruri
	c.branch = fmt.Sprintf("z9hG4bK%x", rand.Uint64())
	var b strings.Builder
	fmt.Fprintf(&b, "INVITE %s SIP/2.0\r\n", ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", c.sipAddr(), c.branch)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=%s\r\n", c.user, c.fromTag)
	fmt.Fprintf(&b, "To: <%s>\r\n", ruri)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d INVITE\r\n", c.callID, c.cseq)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", c.user, c.sipAddr())
	if auth != "" {
		b.WriteString(auth + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	c.send(c.next, b.String())
}

// ackFailure acknowledges a non-2xx final response to the INVITE (same
// branch, the response's To).
func (c *caller) ackFailure(r *msg) {
	var b strings.Builder
	fmt.Fprintf(&b, "ACK %s SIP/2.0\r\n", c.invite)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", c.sipAddr(), c.branch)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nContent-Length: 0\r\n\r\n", r.header("From"), r.header("To"), c.callID, c.cseq)
	c.send(c.next, b.String())
}

// confirm takes the dialog state from a 2xx to the INVITE and sends the ACK.
func (c *caller) confirm(r *msg) {
	c.toHeader = r.header("To")
	c.target = uriOf(r.header("Contact"))
	rr := r.all("Record-Route")
	c.routes = c.routes[:0]
	for i := len(rr) - 1; i >= 0; i-- {
		c.routes = append(c.routes, rr[i])
	}
	c.inDialog("ACK", c.cseq)
}

// inDialog sends an in-dialog request with CSeq n along the route set.
func (c *caller) inDialog(method string, n int) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, c.target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%x;rport\r\n", c.sipAddr(), rand.Uint64())
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	for _, r := range c.routes {
		fmt.Fprintf(&b, "Route: %s\r\n", r)
	}
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=%s\r\nTo: %s\r\n", c.user, c.fromTag, c.toHeader)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n", c.callID, n, method)
	dst := c.target
	if len(c.routes) > 0 {
		dst = c.routes[0]
	}
	to, err := net.ResolveUDPAddr("udp4", uriAddr(dst))
	if err != nil {
		c.t.Fatalf("caller: next hop %q: %v", dst, err)
	}
	c.send(to, b.String())
}

// bye ends the dialog and waits for the 200.
func (c *caller) bye(ctx context.Context) {
	c.t.Helper()
	c.cseq++
	c.inDialog("BYE", c.cseq)
	r := c.final(ctx, "BYE")
	if r.code != 200 {
		c.t.Fatalf("caller: BYE answered %d %s", r.code, r.reason)
	}
}

// cancel cancels the pending INVITE (same branch) and returns the CANCEL's
// final response.
func (c *caller) cancel(ctx context.Context) *msg {
	c.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "CANCEL %s SIP/2.0\r\n", c.invite)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", c.sipAddr(), c.branch)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=%s\r\nTo: <%s>\r\n", c.user, c.fromTag, c.invite)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d CANCEL\r\nContent-Length: 0\r\n\r\n", c.callID, c.cseq)
	c.send(c.next, b.String())
	return c.final(ctx, "CANCEL")
}

// next waits for the next response to method (provisional or final).
func (c *caller) nextResponse(ctx context.Context, method string) *msg {
	c.t.Helper()
	for {
		select {
		case r := <-c.responses:
			if n, m := r.cseq(); m == method && (n == c.cseq || method == "CANCEL") {
				return r
			}
		case <-ctx.Done():
			c.t.Fatalf("caller: no response to %s: %v", method, ctx.Err())
			return nil
		}
	}
}

// final waits for the final response to method, returning the provisional
// ones it skipped through provisional.
func (c *caller) final(ctx context.Context, method string, provisional ...*[]*msg) *msg {
	c.t.Helper()
	for {
		r := c.nextResponse(ctx, method)
		if r.code >= 200 {
			return r
		}
		for _, p := range provisional {
			*p = append(*p, r)
		}
	}
}

// call sends an INVITE with the offer, answers a 401/407 challenge once if
// user/password are given, and returns the final response (ACKed) and the
// provisional responses. A 2xx confirms the dialog.
func (c *caller) call(ctx context.Context, ruri, offer, authUser, password string) (*msg, []*msg) {
	c.t.Helper()
	var prov []*msg
	c.sendInvite(ruri, offer, "")
	r := c.final(ctx, "INVITE", &prov)
	if (r.code == 401 || r.code == 407) && authUser != "" {
		c.ackFailure(r)
		c.sendInvite(ruri, offer, digestHeader(r, "INVITE", ruri, authUser, password))
		r = c.final(ctx, "INVITE", &prov)
	}
	if r.code >= 200 && r.code < 300 {
		c.confirm(r)
	} else {
		c.ackFailure(r)
	}
	return r, prov
}

// register sends REGISTER (to the registrar c.next) for c.user and
// answers one 401 with the password; it returns the final response.
func (c *caller) register(ctx context.Context, domain, password string) *msg {
	c.t.Helper()
	ruri := "sip:" + domain
	send := func(auth string) {
		c.cseq++
		var b strings.Builder
		fmt.Fprintf(&b, "REGISTER %s SIP/2.0\r\n", ruri)
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%x;rport\r\n", c.sipAddr(), rand.Uint64())
		fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
		fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\n", c.user, domain, c.fromTag, c.user, domain)
		fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\n", c.callID, c.cseq)
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nExpires: 60\r\n", c.user, c.sipAddr())
		if auth != "" {
			b.WriteString(auth + "\r\n")
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		c.send(c.next, b.String())
	}
	send("")
	r := c.final(ctx, "REGISTER")
	if r.code == 401 {
		send(digestHeader(r, "REGISTER", ruri, c.user, password))
		r = c.final(ctx, "REGISTER")
	}
	return r
}

// digestHeader answers the challenge in r (WWW-Authenticate or
// Proxy-Authenticate) with an RFC 2617 MD5 digest, with qop=auth if
// offered.
func digestHeader(r *msg, method, uri, user, password string) string {
	name, ch := "Authorization", r.header("WWW-Authenticate")
	if r.code == 407 {
		name, ch = "Proxy-Authorization", r.header("Proxy-Authenticate")
	}
	params := map[string]string{}
	for _, p := range splitParams(strings.TrimSpace(strings.TrimPrefix(ch, "Digest"))) {
		k, v, _ := strings.Cut(p, "=")
		params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	ha1 := h(user + ":" + params["realm"] + ":" + password)
	ha2 := h(method + ":" + uri)
	out := fmt.Sprintf(`%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5`, name, user, params["realm"], params["nonce"], uri)
	if strings.Contains(params["qop"], "auth") {
		cnonce, nc := fmt.Sprintf("%x", rand.Uint64()), "00000001"
		out += fmt.Sprintf(`, qop=auth, nc=%s, cnonce="%s", response="%s"`, nc, cnonce, h(ha1+":"+params["nonce"]+":"+nc+":"+cnonce+":auth:"+ha2))
	} else {
		out += fmt.Sprintf(`, response="%s"`, h(ha1+":"+params["nonce"]+":"+ha2))
	}
	if o, ok := params["opaque"]; ok {
		out += fmt.Sprintf(`, opaque="%s"`, o)
	}
	return out
}

// splitParams splits a challenge's parameters on commas outside quotes.
func splitParams(s string) []string {
	var out []string
	quoted, startAt := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[startAt:i])
				startAt = i + 1
			}
		}
	}
	return append(out, s[startAt:])
}

// sendRTP sends one RTP packet from the caller's RTP port to addr.
func (c *caller) sendRTP(addr string, pt uint8, seq uint16, ts, ssrc uint32, payload []byte) {
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		c.t.Fatal(err)
	}
	b := make([]byte, 12+len(payload))
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	copy(b[12:], payload)
	if _, err := c.rtp.WriteToUDP(b, to); err != nil {
		c.t.Fatal(err)
	}
}
