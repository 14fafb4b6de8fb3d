package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media"
)

// Progress is a step of a call being placed, reported to
// DialOptions.OnProgress.
type Progress string

// The steps of placing a call.
const (
	// Trying: a trunk acknowledged the INVITE (100 Trying).
	Trying Progress = "trying"
	// Ringing: the phone rings (180, or 183 with early media).
	Ringing Progress = "ringing"
)

// DialOptions are the parameters of one call.
type DialOptions struct {
	// RingTimeout, when positive, replaces Config.RingTimeout.
	RingTimeout time.Duration
	// OnProgress, when set, is called from Dial's goroutine as the call
	// progresses, at most once per step.
	OnProgress func(Progress)
	// OnAudio, when set, receives the far end's audio once answered (see
	// media.Session.OnAudio): to record what the call heard.
	OnAudio func(pcm []int16)
	// Log, when set, replaces the agent's logger for this call's lines,
	// so that the caller's fields (a reset ID, a user) appear beside the
	// call's Call-ID.
	Log *slog.Logger
}

// logger returns o.Log, or def when it is nil.
func (o DialOptions) logger(def *slog.Logger) *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return def
}

// errRingTimeout is the cause of a CANCEL sent when the phone rang too
// long.
var errRingTimeout = errors.New("sip: ring timeout")

// Call is an answered call. Read its digits, play it prompts, and hang up;
// it ends by itself when the far end hangs up or its media stops.
type Call struct {
	a        *Agent
	log      *slog.Logger
	id       string // Call-ID
	trunk    string
	dialogID string
	sess     *sipgo.DialogClientSession
	media    *media.Session
	offer    []byte
	contact  sipmsg.ContactHeader
	setup    time.Duration
	answered time.Time

	endOnce sync.Once
	done    chan struct{}
	outcome atomic.Value // Outcome, once done
}

// ID returns the call's Call-ID, for logs.
func (c *Call) ID() string { return c.id }

// Trunk returns the name of the trunk that placed the call.
func (c *Call) Trunk() string { return c.trunk }

// SetupTime returns the time from the INVITE to the answer.
func (c *Call) SetupTime() time.Duration { return c.setup }

// AnsweredAt returns when the call was answered.
func (c *Call) AnsweredAt() time.Time { return c.answered }

// Digits returns the call's keys, from RFC 4733 events, in-band tones and
// SIP INFO merged, each key once.
func (c *Call) Digits() <-chan media.Digit { return c.media.Digits() }

// Play sends audio (8 kHz PCM16 or G.711, as enc says) to the far end,
// paced in real time, until it ends, ctx is done, or the call ends.
func (c *Call) Play(ctx context.Context, audio io.Reader, enc dtmf.Encoding) error {
	return c.media.Play(ctx, audio, enc)
}

// Media returns the call's media session.
func (c *Call) Media() *media.Session { return c.media }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Outcome returns how the call ended: HungUp, MediaTimeout or Completed;
// Answered while it goes on.
func (c *Call) Outcome() Outcome {
	if o, ok := c.outcome.Load().(Outcome); ok {
		return o
	}
	return Answered
}

// Hangup ends the call with a BYE and waits, within ctx, for its answer.
// Hanging up a call that has ended does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	err := c.bye(ctx)
	c.end(Completed)
	return err
}

// bye sends the BYE. A 481 means the far end has already forgotten the
// call, which is as good as a 200.
func (c *Call) bye(ctx context.Context) error {
	err := c.sess.Bye(ctx)
	var res sipgo.ErrDialogResponse
	if errors.As(err, &res) && res.Res.StatusCode == sipmsg.StatusCallTransactionDoesNotExists {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sip: BYE: %w", err)
	}
	return nil
}

// end records how the call ended and releases it, once.
func (c *Call) end(o Outcome) {
	c.endOnce.Do(func() {
		c.outcome.Store(o)
		c.a.mu.Lock()
		delete(c.a.calls, c.dialogID)
		c.a.mu.Unlock()
		_ = c.media.Close()
		c.a.metrics.ended(c.trunk, o, time.Since(c.answered))
		c.log.Info("call ended", "call_id", c.id, "trunk", c.trunk, "outcome", string(o),
			"duration", time.Since(c.answered).Round(time.Millisecond))
		close(c.done)
	})
}

// watch ends the call when its media stops arriving.
func (c *Call) watch() {
	defer c.a.wg.Done()
	select {
	case <-c.done:
	case <-c.media.Done():
		if errors.Is(c.media.Err(), media.ErrMediaTimeout) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			_ = c.bye(ctx)
			cancel()
			c.end(MediaTimeout)
		}
	}
}

// Dial calls number (the user part of the Request-URI: an E.164 number or
// an extension) through the trunks in turn, and returns the call once
// answered. A call that is not answered returns a *CallError. Cancelling
// ctx before the answer cancels the call; after it, ctx plays no part.
func (a *Agent) Dial(ctx context.Context, number string, opts DialOptions) (*Call, error) {
	select {
	case <-a.ready:
	default:
		return nil, &CallError{Outcome: Failed, Trunk: "none", Err: errors.New("sip: the agent is not running")}
	}
	if number == "" || strings.ContainsAny(number, "@:;<> \t\r\n\"") {
		return nil, &CallError{Outcome: Failed, Trunk: "none", Err: errors.New("sip: not a number")}
	}
	a.metrics.dialling.Inc()
	defer a.metrics.dialling.Dec()
	var last *CallError
	order := a.trunkOrder()
	for n, i := range order {
		c, cerr, failover := a.dialTrunk(ctx, i, number, opts)
		if cerr == nil {
			return c, nil
		}
		last = cerr
		if !failover || ctx.Err() != nil || n == len(order)-1 {
			break
		}
		a.metrics.failovers.WithLabelValues(string(cerr.Outcome), cerr.Trunk).Inc()
		opts.logger(a.log).Warn("trunk failed, trying the next", "trunk", cerr.Trunk, "outcome", string(cerr.Outcome), "status", cerr.Status, "err", cerr.Err)
	}
	a.metrics.failed(last.Trunk, last.Outcome)
	return nil, last
}

// trunkOrder returns the trunks' indexes, healthy trunks first, each group
// in configured order.
func (a *Agent) trunkOrder() []int {
	var up, down []int
	for i, h := range a.health {
		if a.cfg.trunks[i].KeepAlive < 0 || h.up() || !h.checked() {
			up = append(up, i)
		} else {
			down = append(down, i)
		}
	}
	return append(up, down...)
}

// dialTrunk places the call through trunk i. It reports whether a failure
// should make Dial try the next trunk.
func (a *Agent) dialTrunk(ctx context.Context, i int, number string, opts DialOptions) (*Call, *CallError, bool) {
	t := &a.cfg.trunks[i]
	callID := ""
	fail := func(o Outcome, err error) *CallError {
		return &CallError{Outcome: o, Trunk: t.Name, CallID: callID, Err: err}
	}
	ms, err := a.media.Open()
	if err != nil {
		return nil, fail(Failed, err), false
	}
	keepMedia := false
	defer func() {
		if !keepMedia {
			_ = ms.Close()
		}
	}()
	offer, err := ms.Offer()
	if err != nil {
		return nil, fail(Failed, err), false
	}
	req := a.invite(t, number, offer)
	callID = req.CallID().Value()
	log := opts.logger(a.log).With("call_id", callID, "trunk", t.Name)

	start := time.Now()
	dua := a.dialogs[t.transport]
	sess, err := dua.WriteInvite(ctx, req)
	if err != nil {
		log.Warn("INVITE not sent", "err", err)
		return nil, fail(Unreachable, err), true
	}
	defer func() {
		if !keepMedia {
			_ = sess.Close()
		}
	}()

	// The wait is cancelled from here: with a CANCEL once the trunk has
	// answered anything, without one (nothing to cancel yet) before.
	waitCtx, cancelWait := context.WithCancelCause(context.Background())
	defer cancelWait(nil)
	var (
		responded atomic.Bool
		why       atomic.Value // error: why the wait was cancelled
		stop      = make(chan struct{})
		stopped   = make(chan struct{})
	)
	ring := a.cfg.RingTimeout
	if opts.RingTimeout > 0 {
		ring = opts.RingTimeout
	}
	go func() {
		defer close(stopped)
		first := time.NewTimer(a.cfg.TrunkTimeout)
		rang := time.NewTimer(ring)
		defer first.Stop()
		defer rang.Stop()
		cancelWith := func(err error) {
			why.Store(err)
			if responded.Load() {
				cancelWait(err)
			} else {
				cancelWait(sipgo.WaitAnswerForceCancelErr)
			}
		}
		for {
			select {
			case <-stop:
				return
			case <-first.C:
				if !responded.Load() {
					cancelWith(errNoResponse)
					return
				}
			case <-rang.C:
				if responded.Load() {
					cancelWith(errRingTimeout)
				} else {
					cancelWith(errNoResponse)
				}
				return
			case <-ctx.Done():
				cancelWith(context.Cause(ctx))
				return
			}
		}
	}()

	var (
		early    []byte
		told     = map[Progress]bool{}
		realmErr error
	)
	progress := func(p Progress) {
		if !told[p] && opts.OnProgress != nil {
			told[p] = true
			opts.OnProgress(p)
		}
	}
	onResponse := func(r *sipmsg.Response) error {
		responded.Store(true)
		switch {
		case r.StatusCode == 100:
			progress(Trying)
		case r.StatusCode == 180 || r.StatusCode == 183:
			progress(Ringing)
		case (r.StatusCode == 401 || r.StatusCode == 407) && t.Realm != "":
			if got := challengeRealm(r); got != t.Realm {
				realmErr = fmt.Errorf("sip: challenge for realm %q, configured %q", got, t.Realm)
				return realmErr
			}
		}
		if early == nil && len(r.Body()) > 0 && (r.IsProvisional() || r.IsSuccess()) {
			// RFC 3261 13.2.1: the first SDP is the answer.
			early = r.Body()
		}
		return nil
	}
	err = sess.WaitAnswer(waitCtx, sipgo.AnswerOptions{Username: t.Username, Password: t.Password, OnResponse: onResponse})
	close(stop)
	<-stopped

	var rej *sipgo.ErrDialogResponse
	switch {
	case err == nil:
	case errors.As(err, &rej):
		o, failover := classify(rej.Res.StatusCode)
		log.Info("call not answered", "status", rej.Res.StatusCode, "outcome", string(o))
		return nil, &CallError{Outcome: o, Status: rej.Res.StatusCode, Reason: rej.Res.Reason, Trunk: t.Name, CallID: callID}, failover
	case realmErr != nil:
		return nil, fail(Failed, realmErr), true
	case waitCtx.Err() != nil:
		if r := sess.InviteResponse; r != nil && r.IsSuccess() {
			// The 200 crossed our CANCEL: take the call, then end it.
			a.ackAndBye(sess, log)
		}
		cause, _ := why.Load().(error)
		switch {
		case errors.Is(cause, errNoResponse):
			log.Warn("trunk did not respond", "after", a.cfg.TrunkTimeout)
			return nil, fail(Unreachable, cause), true
		case errors.Is(cause, errRingTimeout):
			return nil, fail(NoAnswer, cause), false
		}
		return nil, fail(Failed, cause), false
	default:
		log.Warn("INVITE failed", "err", err)
		return nil, fail(Unreachable, err), true
	}

	// Answered. ACK first, whatever follows, to stop the 200's
	// retransmissions.
	res := sess.InviteResponse
	if err := sess.Ack(context.Background()); err != nil {
		log.Warn("ACK not sent", "err", err)
	}
	if early == nil {
		early = res.Body()
	}
	if err := ms.SetAnswer(early); err != nil {
		log.Warn("unusable SDP answer, hanging up", "err", err)
		byeCtx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		_ = sess.Bye(byeCtx)
		cancel()
		return nil, fail(Failed, err), false
	}
	if ip, err := netip.ParseAddrPort(res.Source()); err == nil {
		ms.SetPeerIP(ip.Addr())
	}
	if opts.OnAudio != nil {
		ms.OnAudio(opts.OnAudio)
	}
	ms.Start()
	keepMedia = true
	c := &Call{
		a: a, log: opts.logger(a.log), id: callID, trunk: t.Name, dialogID: sess.ID, sess: sess, media: ms,
		offer: offer, contact: *req.Contact(), setup: time.Since(start), answered: time.Now(),
		done: make(chan struct{}),
	}
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		keepMedia = false
		a.ackAndBye(sess, log)
		return nil, fail(Failed, errors.New("sip: the agent is stopping")), false
	}
	a.calls[sess.ID] = c
	a.wg.Add(1)
	a.mu.Unlock()
	a.metrics.answered(t.Name, c.setup)
	log.Info("call answered", "setup", c.setup.Round(time.Millisecond))
	go c.watch()
	return c, nil, false
}

// errNoResponse is the cause of giving up on a trunk that answered
// nothing.
var errNoResponse = errors.New("sip: no response from the trunk")

// ackAndBye takes a call answered after we cancelled it, and ends it.
func (a *Agent) ackAndBye(sess *sipgo.DialogClientSession, log interface{ Warn(string, ...any) }) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := sess.Ack(ctx); err != nil {
		log.Warn("ACK after CANCEL not sent", "err", err)
		return
	}
	if err := sess.Bye(ctx); err != nil {
		log.Warn("BYE after CANCEL failed", "err", err)
	}
}

// invite builds the INVITE for number through t.
func (a *Agent) invite(t *trunk, number string, offer []byte) *sipmsg.Request {
	uri := sipmsg.Uri{Scheme: t.uri.Scheme, User: number, Host: t.uri.Host, Port: t.uri.Port}
	if t.transport != "udp" {
		uri.UriParams = sipmsg.NewParams()
		uri.UriParams.Add("transport", t.transport)
	}
	req := sipmsg.NewRequest(sipmsg.INVITE, uri)
	req.SetTransport(strings.ToUpper(t.transport))
	user := t.FromUser
	if t.CallerNumber != "" {
		user = t.CallerNumber
	}
	from := &sipmsg.FromHeader{
		DisplayName: t.CallerName,
		Address:     sipmsg.Uri{Scheme: "sip", User: user, Host: t.FromDomain},
		Params:      sipmsg.NewParams(),
	}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: number, Host: t.uri.Host}, Params: sipmsg.NewParams()}
	req.AppendHeader(from)
	req.AppendHeader(to)
	callID := sipmsg.CallIDHeader(uuid.NewString())
	req.AppendHeader(&callID)
	contact := a.dialogs[t.transport].ContactHDR
	req.AppendHeader(&contact)
	req.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	ct := sipmsg.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(offer)
	if t.OutboundProxy != "" {
		req.SetDestination(t.OutboundProxy)
	}
	return req
}

// challengeRealm returns the realm of a 401's or 407's challenge.
func challengeRealm(r *sipmsg.Response) string {
	h := r.GetHeader("WWW-Authenticate")
	if r.StatusCode == 407 {
		h = r.GetHeader("Proxy-Authenticate")
	}
	if h == nil {
		return ""
	}
	v := h.Value()
	i := strings.Index(strings.ToLower(v), "realm=")
	if i < 0 {
		return ""
	}
	v = v[i+len("realm="):]
	if strings.HasPrefix(v, `"`) {
		v = v[1:]
		if j := strings.IndexByte(v, '"'); j >= 0 {
			return v[:j]
		}
		return v
	}
	if j := strings.IndexAny(v, ", "); j >= 0 {
		return v[:j]
	}
	return v
}
