package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/sip/media"
)

// PhoneConfig configures a Phone.
type PhoneConfig struct {
	// Listen is the host:port the phone listens on. Zero means
	// 127.0.0.1:0, a free port.
	Listen string
	// Transport is "udp", "tcp" or "tls". Zero means "udp".
	Transport string
	// TLS holds the certificate a "tls" phone presents.
	TLS *tls.Config
	// Media configures the phone's RTP.
	Media media.Config
	// UserAgent is the User-Agent header. Zero means "sspr-phone".
	UserAgent string
}

// Phone is a small SIP phone that is called: the far end of tests, and
// the demo's virtual phone. Each INVITE is handed to the handler given to
// NewPhone, which rings, rejects or answers it.
type Phone struct {
	log       *slog.Logger
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	dialog    *sipgo.DialogUA
	media     *media.Engine
	conn      net.PacketConn // a UDP phone's socket
	ln        net.Listener   // a TCP or TLS phone's
	addr      netip.AddrPort
	handler   func(*Incoming)
	transport string
	ready     chan struct{}

	mu      sync.Mutex
	calls   map[string]*PhoneCall // by dialog ID
	closing bool                  // Run is returning: no new goroutines
	wg      sync.WaitGroup
}

// goAdd starts f as one of the phone's goroutines, unless Run is
// returning; it reports whether it did.
func (p *Phone) goAdd(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// NewPhone returns a phone that hands each incoming call to handle, in
// its own goroutine. It binds its socket; Run serves it.
func NewPhone(cfg PhoneConfig, handle func(*Incoming), log *slog.Logger, reg prometheus.Registerer) (*Phone, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "sspr-phone"
	}
	if handle == nil {
		return nil, errors.New("sip: NewPhone: a handler is required")
	}
	eng, err := media.NewEngine(cfg.Media, reg)
	if err != nil {
		return nil, fmt.Errorf("sip: PhoneConfig.Media: %w", err)
	}
	var (
		conn  net.PacketConn
		ln    net.Listener
		local net.Addr
	)
	switch cfg.Transport {
	case "", "udp":
		cfg.Transport = "udp"
		conn, err = net.ListenPacket("udp", cfg.Listen)
		if err == nil {
			local = conn.LocalAddr()
		}
	case "tcp", "tls":
		if cfg.Transport == "tls" && cfg.TLS == nil {
			return nil, errors.New("sip: PhoneConfig.TLS: required for a tls phone")
		}
		ln, err = net.Listen("tcp", cfg.Listen)
		if err == nil {
			if cfg.Transport == "tls" {
				ln = tls.NewListener(ln, cfg.TLS)
			}
			local = ln.Addr()
		}
	default:
		return nil, fmt.Errorf("sip: PhoneConfig.Transport %q: want udp, tcp or tls", cfg.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("sip: PhoneConfig.Listen: %w", err)
	}
	closeListener := func() {
		if conn != nil {
			conn.Close()
		}
		if ln != nil {
			ln.Close()
		}
	}
	addr, err := netip.ParseAddrPort(local.String())
	if err != nil {
		closeListener()
		return nil, fmt.Errorf("sip: PhoneConfig.Listen: %w", err)
	}
	host := addr.Addr().String()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(host))
	if err != nil {
		closeListener()
		return nil, fmt.Errorf("sip: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		closeListener()
		ua.Close()
		return nil, fmt.Errorf("sip: %w", err)
	}
	copts := []sipgo.ClientOption{sipgo.WithClientLogger(log), sipgo.WithClientHostname(host)}
	if conn != nil {
		copts = append(copts, sipgo.WithClientConnectionAddr(addr.String()))
	}
	cli, err := sipgo.NewClient(ua, copts...)
	if err != nil {
		closeListener()
		ua.Close()
		return nil, fmt.Errorf("sip: %w", err)
	}
	contact := sipmsg.Uri{Scheme: "sip", User: "phone", Host: host, Port: int(addr.Port())}
	if cfg.Transport != "udp" {
		contact.UriParams = sipmsg.NewParams()
		contact.UriParams.Add("transport", cfg.Transport)
	}
	p := &Phone{
		log: log, ua: ua, srv: srv, media: eng, conn: conn, ln: ln, addr: addr, handler: handle,
		transport: cfg.Transport, ready: make(chan struct{}), calls: map[string]*PhoneCall{},
		dialog: &sipgo.DialogUA{Client: cli, ContactHDR: sipmsg.ContactHeader{Address: contact}},
	}
	srv.OnInvite(p.onInvite)
	srv.OnAck(p.onAck)
	srv.OnBye(p.onBye)
	srv.OnOptions(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
	})
	return p, nil
}

// Addr returns the phone's SIP address.
func (p *Phone) Addr() netip.AddrPort { return p.addr }

// URI returns a SIP URI that reaches the phone, with user as its user
// part.
func (p *Phone) URI(user string) string {
	u := "sip:" + user + "@" + net.JoinHostPort(p.addr.Addr().String(), strconv.Itoa(int(p.addr.Port())))
	if p.transport != "udp" {
		u += ";transport=" + p.transport
	}
	return u
}

// Ready is closed when Run serves.
func (p *Phone) Ready() <-chan struct{} { return p.ready }

// Run serves the phone until ctx is done, then hangs up its calls.
func (p *Phone) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	switch {
	case p.conn != nil:
		go func() { errc <- p.srv.ServeUDP(p.conn) }()
		waitServing(p.ua, p.conn.LocalAddr().String())
	case p.transport == "tls":
		go func() { errc <- p.srv.ServeTLS(p.ln) }()
	default:
		go func() { errc <- p.srv.ServeTCP(p.ln) }()
	}
	close(p.ready)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	p.mu.Lock()
	p.closing = true
	calls := make([]*PhoneCall, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	for _, c := range calls {
		hctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.Hangup(hctx)
		cancel()
	}
	p.wg.Wait()
	p.closeListener()
	if err == nil {
		<-errc
	}
	return nil
}

func (p *Phone) closeListener() {
	if p.conn != nil {
		p.conn.Close()
	}
	if p.ln != nil {
		p.ln.Close()
	}
}

// Close releases the phone's transports; call it after Run returned.
func (p *Phone) Close() error {
	p.closeListener()
	return p.ua.Close()
}

// Incoming is a call ringing at the phone, not yet answered.
type Incoming struct {
	p       *Phone
	onAudio func(pcm []int16)
	req     *sipmsg.Request
	sess    *sipgo.DialogServerSession
	done    chan struct{} // closed when the handler has decided
	once    sync.Once
}

// User returns the user part of the Request-URI: the number called.
func (r *Incoming) User() string { return r.req.Recipient.User }

// Request returns the INVITE.
func (r *Incoming) Request() *sipmsg.Request { return r.req }

// OnAudio sets f to receive the caller's audio once the call is answered,
// decoded, packet by packet (see media.Session.OnAudio). Call it before
// Answer.
func (r *Incoming) OnAudio(f func(pcm []int16)) { r.onAudio = f }

// Cancelled is closed if the caller gives up (CANCEL) before the answer.
func (r *Incoming) Cancelled() <-chan struct{} { return r.sess.Context().Done() }

// Ring sends 180 Ringing.
func (r *Incoming) Ring() error { return r.sess.Respond(sipmsg.StatusRinging, "Ringing", nil) }

// Reject ends the call with a final status, such as 486 or 603.
func (r *Incoming) Reject(status int, reason string) error {
	defer r.decided()
	return r.sess.Respond(status, reason, nil)
}

// decided lets the INVITE transaction end.
func (r *Incoming) decided() { r.once.Do(func() { close(r.done) }) }

// Answer answers the call with 200 OK and the phone's SDP, waits for the
// ACK, and starts the call's media.
func (r *Incoming) Answer(ctx context.Context) (*PhoneCall, error) {
	defer r.decided()
	ms, err := r.p.media.Open()
	if err != nil {
		_ = r.sess.Respond(sipmsg.StatusInternalServerError, "Server Error", nil)
		return nil, err
	}
	answer, err := ms.AcceptOffer(r.req.Body())
	if err != nil {
		ms.Close()
		_ = r.sess.Respond(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return nil, err
	}
	c := &PhoneCall{p: r.p, sess: r.sess, media: ms, sdp: answer, done: make(chan struct{})}
	r.p.mu.Lock()
	r.p.calls[r.sess.ID] = c
	r.p.mu.Unlock()
	if err := r.sess.RespondSDP(answer); err != nil {
		if c.byeIn.Load() {
			// The caller hung up as soon as it was answered, its BYE
			// overtaking its ACK: the call was answered, and is over.
			<-c.done
			return c, nil
		}
		c.end()
		return nil, err
	}
	if ip, err := netip.ParseAddrPort(r.req.Source()); err == nil {
		ms.SetPeerIP(ip.Addr())
	}
	if r.onAudio != nil {
		ms.OnAudio(r.onAudio)
	}
	ms.Start()
	watching := r.p.goAdd(func() {
		select {
		case <-c.done:
		case <-r.sess.Context().Done():
			c.end()
		}
	})
	if !watching {
		c.end()
		return nil, errors.New("sip: the phone is stopping")
	}
	return c, nil
}

func (p *Phone) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// A re-INVITE: keep the session as it is.
		if c := p.call(req); c != nil {
			res := sipmsg.NewResponseFromRequest(req, 200, "OK", c.sdp)
			res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
			_ = tx.Respond(res)
			return
		}
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	sess, err := p.dialog.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusBadRequest, "Bad Request", nil))
		return
	}
	r := &Incoming{p: p, req: req, sess: sess, done: make(chan struct{})}
	if !p.goAdd(func() {
		p.handler(r)
		r.decided()
	}) {
		_ = sess.Respond(sipmsg.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	// The transaction ends when this returns: wait for the handler's
	// decision, or the caller's CANCEL.
	select {
	case <-r.done:
	case <-sess.Context().Done():
	}
}

func (p *Phone) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if id, err := sipmsg.DialogIDFromRequestUAS(req); err == nil {
		p.mu.Lock()
		c := p.calls[id]
		p.mu.Unlock()
		if c != nil {
			_ = c.sess.ReadAck(req, tx)
		}
	}
}

func (p *Phone) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := p.call(req)
	if c == nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.byeIn.Store(true)
	_ = c.sess.ReadBye(req, tx)
	c.end()
}

// call returns the phone's call req belongs to.
func (p *Phone) call(req *sipmsg.Request) *PhoneCall {
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

// PhoneCall is a call the phone answered.
type PhoneCall struct {
	p     *Phone
	sess  *sipgo.DialogServerSession
	media *media.Session
	sdp   []byte // our answer, repeated to re-INVITEs
	once  sync.Once
	done  chan struct{}
	// byeIn is set when the far end's BYE arrives, before the dialog
	// ends: a BYE that overtakes the ACK makes the 200 "unacknowledged".
	byeIn atomic.Bool
}

// Media returns the call's media session: its digits, its audio.
func (c *PhoneCall) Media() *media.Session { return c.media }

// Done is closed when the call has ended.
func (c *PhoneCall) Done() <-chan struct{} { return c.done }

// SendDigits presses keys: as RFC 4733 events or in-band tones through
// the media, or as one SIP INFO (application/dtmf-relay) per key.
func (c *PhoneCall) SendDigits(ctx context.Context, keys string, m media.Method, on, off time.Duration) error {
	if m != media.Info {
		return c.media.SendDigits(ctx, keys, m, on, off)
	}
	for i := 0; i < len(keys); i++ {
		req := sipmsg.NewRequest(sipmsg.INFO, c.sess.InviteRequest.Contact().Address)
		body := fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", keys[i], on.Milliseconds())
		req.SetBody([]byte(body))
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/dtmf-relay"))
		res, err := c.sess.Do(ctx, req)
		if err != nil {
			return fmt.Errorf("sip: INFO: %w", err)
		}
		if !res.IsSuccess() {
			return fmt.Errorf("sip: INFO: %d %s", res.StatusCode, res.Reason)
		}
		if i < len(keys)-1 {
			select {
			case <-time.After(on + off):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Hangup ends the call with a BYE.
func (c *PhoneCall) Hangup(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	err := c.sess.Bye(ctx)
	c.end()
	return err
}

func (c *PhoneCall) end() {
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.calls, c.sess.ID)
		c.p.mu.Unlock()
		_ = c.media.Close()
		close(c.done)
	})
}

// Info sends an in-dialog INFO with any body, and returns the answer.
func (c *PhoneCall) Info(ctx context.Context, contentType string, body []byte) (*sipmsg.Response, error) {
	req := sipmsg.NewRequest(sipmsg.INFO, c.sess.InviteRequest.Contact().Address)
	req.SetBody(body)
	req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
	return c.sess.Do(ctx, req)
}

// ReInvite sends a re-INVITE with the phone's SDP, as a session refresh
// or hold would, ACKs a 2xx, and returns the answer.
func (c *PhoneCall) ReInvite(ctx context.Context) (*sipmsg.Response, error) {
	req := sipmsg.NewRequest(sipmsg.INVITE, c.sess.InviteRequest.Contact().Address)
	req.SetBody(c.sdp)
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res, err := c.sess.Do(ctx, req)
	if err != nil || !res.IsSuccess() {
		return res, err
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, req.Recipient)
	ack.AppendHeader(sipmsg.HeaderClone(req.CSeq()))
	ack.CSeq().MethodName = sipmsg.ACK
	if err := c.sess.WriteRequest(ack); err != nil {
		return res, fmt.Errorf("sip: ACK to re-INVITE: %w", err)
	}
	return res, nil
}
