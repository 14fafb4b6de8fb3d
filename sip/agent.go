package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media"
)

// Agent is the SIP user agent. Create it with New, start it with Run,
// then place calls with Dial. It is safe for concurrent use.
type Agent struct {
	cfg     *config
	log     *slog.Logger
	metrics *metrics
	media   *media.Engine

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	clients map[string]*sipgo.Client   // by transport
	dialogs map[string]*sipgo.DialogUA // by transport
	health  []*trunkHealth             // one per trunk, in order
	ready   chan struct{}
	conns   []io.Closer            // the bound listeners
	packet  map[int]net.PacketConn // UDP listeners, by index in cfg.listeners
	stream  map[int]net.Listener   // TCP and TLS listeners, likewise

	mu      sync.Mutex
	calls   map[string]*Call // established calls by dialog ID
	closing bool             // Run is returning: no new calls
	wg      sync.WaitGroup   // the goroutines of calls
}

// New returns an agent for cfg, logging to log and registering its
// metrics (and its media engine's) on reg. It binds the listening sockets
// (a port 0 becomes a free port, written into Contact); Run serves them.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	v, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	eng, err := media.NewEngine(cfg.Media, reg)
	if err != nil {
		return nil, fmt.Errorf("sip: Config.Media: %w", err)
	}
	tlsConf, err := clientTLS(v.trunks)
	if err != nil {
		return nil, err
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(v.UserAgent),
		sipgo.WithUserAgentHostname(v.Advertise),
		sipgo.WithUserAgenTLSConfig(tlsConf),
	)
	if err != nil {
		return nil, fmt.Errorf("sip: %w", err)
	}
	a := &Agent{
		cfg:     v,
		log:     log,
		metrics: newMetrics(reg, v.trunks),
		media:   eng,
		ua:      ua,
		clients: map[string]*sipgo.Client{},
		dialogs: map[string]*sipgo.DialogUA{},
		ready:   make(chan struct{}),
		calls:   map[string]*Call{},
	}
	a.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(log.With("sip", "server")))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip: %w", err)
	}
	a.packet = map[int]net.PacketConn{}
	a.stream = map[int]net.Listener{}
	for i := range v.listeners {
		l := &v.listeners[i]
		addr := net.JoinHostPort(l.host, strconv.Itoa(l.port))
		var local net.Addr
		if l.Transport == "udp" {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				a.closeConns()
				return nil, fmt.Errorf("sip: Config.Listen[%d]: %w", i, err)
			}
			a.packet[i], local = pc, pc.LocalAddr()
			a.conns = append(a.conns, pc)
		} else {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				a.closeConns()
				return nil, fmt.Errorf("sip: Config.Listen[%d]: %w", i, err)
			}
			if l.tls != nil {
				ln = tls.NewListener(ln, l.tls)
			}
			a.stream[i], local = ln, ln.Addr()
			a.conns = append(a.conns, ln)
		}
		if _, port, err := splitHostPort(local.String()); err == nil {
			l.port = port
		}
		opts := []sipgo.ClientOption{
			sipgo.WithClientLogger(log.With("sip", "client")),
			sipgo.WithClientHostname(v.Advertise),
		}
		if l.Transport == "udp" {
			// Send from the listening socket: trunks and NATs then see
			// one address for every request, and in-dialog requests
			// come back to it.
			opts = append(opts, sipgo.WithClientConnectionAddr(net.JoinHostPort(l.host, strconv.Itoa(l.port))))
		}
		cli, err := sipgo.NewClient(ua, opts...)
		if err != nil {
			a.closeConns()
			ua.Close()
			return nil, fmt.Errorf("sip: %w", err)
		}
		a.clients[l.Transport] = cli
		a.dialogs[l.Transport] = &sipgo.DialogUA{Client: cli, ContactHDR: a.contact(*l)}
	}
	for _, t := range v.trunks {
		a.health = append(a.health, &trunkHealth{})
		if a.clients[t.transport] != nil {
			continue
		}
		// No listener for this transport: requests open their own
		// connections, and in-dialog requests come back on them. The
		// Contact's port is filled in from the connection.
		cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(log.With("sip", "client")), sipgo.WithClientHostname(v.Advertise))
		if err != nil {
			a.closeConns()
			ua.Close()
			return nil, fmt.Errorf("sip: %w", err)
		}
		a.clients[t.transport] = cli
		a.dialogs[t.transport] = &sipgo.DialogUA{Client: cli, ContactHDR: a.contact(listener{Listener: Listener{Transport: t.transport}})}
	}
	for m, h := range a.handlers() {
		a.srv.OnRequest(m, h)
	}
	a.srv.OnNoRoute(a.onNoRoute)
	return a, nil
}

// handlers returns the agent's request handlers by method; other methods
// go to onNoRoute.
func (a *Agent) handlers() map[sipmsg.RequestMethod]sipgo.RequestHandler {
	return map[sipmsg.RequestMethod]sipgo.RequestHandler{
		sipmsg.INVITE:  a.onInvite,
		sipmsg.ACK:     func(*sipmsg.Request, sipmsg.ServerTransaction) {},
		sipmsg.BYE:     a.onBye,
		sipmsg.CANCEL:  a.onCancel,
		sipmsg.INFO:    a.onInfo,
		sipmsg.OPTIONS: a.onOptions,
	}
}

// onNoRoute answers the methods the agent does not handle.
func (a *Agent) onNoRoute(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed", nil)
	res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	a.respondDone(tx, res)
}

// onCancel answers a CANCEL that matched no INVITE transaction (sipgo
// answers those that match): RFC 3261 §9.2.
func (a *Agent) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	a.respondDone(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}

// allowed is the methods the agent handles.
const allowed = "INVITE, ACK, BYE, CANCEL, INFO, OPTIONS"

// clientTLS returns the TLS configuration for connections to trunks: the
// CA files of every TLS trunk, and the server name when one is set.
func clientTLS(trunks []trunk) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var pool *x509.CertPool
	for _, t := range trunks {
		if t.transport != "tls" {
			continue
		}
		if t.ServerName != "" {
			if cfg.ServerName != "" && cfg.ServerName != t.ServerName {
				return nil, fmt.Errorf("sip: trunk %s: ServerName: only one server name is supported across TLS trunks", t.Name)
			}
			cfg.ServerName = t.ServerName
		}
		if t.CAFile == "" {
			continue
		}
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sip: trunk %s: CAFile: %w", t.Name, err)
		}
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sip: trunk %s: CAFile %s: no PEM certificate in it", t.Name, t.CAFile)
		}
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// contact returns the Contact header for requests sent over l.
func (a *Agent) contact(l listener) sipmsg.ContactHeader {
	uri := sipmsg.Uri{Scheme: "sip", User: "sspr", Host: a.cfg.Advertise, Port: l.port}
	if l.Transport != "udp" {
		uri.UriParams = sipmsg.NewParams()
		uri.UriParams.Add("transport", l.Transport)
	}
	return sipmsg.ContactHeader{Address: uri}
}

// Run serves the listening sockets and keeps the trunks' health and
// registrations until ctx is done; then it hangs up every call and
// returns. Ready is closed once it serves.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(a.cfg.listeners))
	var wg sync.WaitGroup
	for i, l := range a.cfg.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch {
			case l.Transport == "udp":
				err = a.srv.ServeUDP(a.packet[i])
			case l.Transport == "tls":
				err = a.srv.ServeTLS(a.stream[i])
			default:
				err = a.srv.ServeTCP(a.stream[i])
			}
			if err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("sip: serve %s: %w", l.Transport, err)
			}
		}()
	}
	for i, l := range a.cfg.listeners {
		if l.Transport == "udp" {
			waitServing(a.ua, a.packet[i].LocalAddr().String())
		}
	}
	a.log.Info("sip agent listening", "addrs", a.Addrs(), "trunks", len(a.cfg.trunks))
	close(a.ready)
	for i := range a.cfg.trunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.keepTrunk(ctx, i)
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()
	a.hangupAll()
	a.wg.Wait()
	a.closeConns()
	wg.Wait()
	return err
}

// waitServing waits, up to a second, until sipgo serves the UDP socket at
// addr: requests sent before then would open a second socket on the same
// address and fail.
func waitServing(ua *sipgo.UserAgent, addr string) {
	for range 1000 {
		if c, err := ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Addrs returns the listening addresses, as transport:host:port.
func (a *Agent) Addrs() []string {
	var out []string
	for _, l := range a.cfg.listeners {
		out = append(out, l.Transport+":"+net.JoinHostPort(l.host, strconv.Itoa(l.port)))
	}
	return out
}

// closeConns closes the listening sockets, once each.
func (a *Agent) closeConns() {
	for _, c := range a.conns {
		_ = c.Close()
	}
	a.conns = nil
}

// Ready is closed when Run has opened every listener.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Close releases the agent's sockets and transports. Call it after Run
// has returned, or instead of Run.
func (a *Agent) Close() error {
	a.closeConns()
	return a.ua.Close()
}

// Healthy reports whether at least one trunk answered its last OPTIONS
// (or has keep-alives turned off).
func (a *Agent) Healthy() bool {
	for i, h := range a.health {
		if a.cfg.trunks[i].KeepAlive < 0 || h.up() {
			return true
		}
	}
	return false
}

// TrunksDown names the trunks that did not answer their last OPTIONS
// (or have not been asked yet), in configured order; a trunk with
// keep-alives turned off is never among them.
func (a *Agent) TrunksDown() []string {
	var down []string
	for i, h := range a.health {
		if a.cfg.trunks[i].KeepAlive >= 0 && !h.up() {
			down = append(down, a.cfg.trunks[i].Name)
		}
	}
	return down
}

// hangupAll ends every established call.
func (a *Agent) hangupAll() {
	a.mu.Lock()
	calls := make([]*Call, 0, len(a.calls))
	for _, c := range a.calls {
		calls = append(calls, c)
	}
	a.mu.Unlock()
	// All at once: a node stopping with thousands of calls must not take
	// thousands of round trips.
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = c.Hangup(ctx)
		}()
	}
	wg.Wait()
}

// respond sends res on tx, logging a failure.
func (a *Agent) respond(tx sipmsg.ServerTransaction, res *sipmsg.Response) {
	if err := tx.Respond(res); err != nil {
		a.log.Debug("sip: respond", "status", res.StatusCode, "err", err)
	}
}

// respondDone sends res, a final response to a request outside our calls,
// and forgets the transaction at once, as a stateless UAS would (RFC 3261
// §8.2.7): a flood of such requests then leaves no state behind for 32 s
// and draws no retransmissions of our answers (a 603 to an INVITE would
// otherwise be sent up to 11 times, waiting for an ACK). A retransmitted
// request is answered again.
func (a *Agent) respondDone(tx sipmsg.ServerTransaction, res *sipmsg.Response) {
	a.respond(tx, res)
	tx.Terminate()
}

// call returns the established call req belongs to.
func (a *Agent) call(req *sipmsg.Request) *Call {
	id, err := sipmsg.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[id]
}

// onInvite declines new calls (the service never answers one) and
// answers a re-INVITE in one of its calls with the call's SDP.
func (a *Agent) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if to := req.To(); to == nil || !to.Params.Has("tag") {
		a.metrics.unsolicited.Inc()
		a.respondDone(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusGlobalDecline, "Decline", nil))
		return
	}
	c := a.call(req)
	if c == nil {
		a.respondDone(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", c.offer)
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(&c.contact)
	a.respond(tx, res)
}

// onBye ends the call the BYE belongs to.
func (a *Agent) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := a.call(req)
	if c == nil {
		a.respondDone(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	if err := c.sess.ReadBye(req, tx); err != nil {
		a.log.Debug("sip: BYE", "call_id", c.id, "err", err)
	}
	c.end(HungUp)
}

// onInfo passes a DTMF key sent as SIP INFO to the call's digit stream.
func (a *Agent) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := a.call(req)
	if c == nil {
		a.respondDone(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	info, err := dtmf.ParseInfo(ct, req.Body())
	switch {
	case errors.Is(err, dtmf.ErrUnsupportedType):
		res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
		res.AppendHeader(sipmsg.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		a.respond(tx, res)
		return
	case err != nil:
		a.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusBadRequest, "Bad Request", nil))
		return
	}
	a.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
	if info.Key != 0 {
		c.media.InfoDigit(info.Key, info.Duration)
	}
}

// onOptions answers OPTIONS, in or out of a dialog.
func (a *Agent) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	res.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
	a.respondDone(tx, res)
}
