package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// trunkHealth is what the agent last learned of a trunk.
type trunkHealth struct {
	state atomic.Int32 // 0 unchecked, 1 up, 2 down
}

func (h *trunkHealth) up() bool      { return h.state.Load() == 1 }
func (h *trunkHealth) checked() bool { return h.state.Load() != 0 }

// keepTrunk checks trunk i with OPTIONS every KeepAlive and keeps its
// registration, until ctx is done.
func (a *Agent) keepTrunk(ctx context.Context, i int) {
	t := &a.cfg.trunks[i]
	var ping, reg <-chan time.Time
	var pingTimer, regTimer *time.Timer
	if t.KeepAlive > 0 {
		pingTimer = time.NewTimer(0)
		defer pingTimer.Stop()
		ping = pingTimer.C
	} else if t.KeepAlive < 0 {
		// Not probed: taken as up, as Healthy and the trunk order do.
		a.metrics.trunkUp.WithLabelValues(t.Name).Set(1)
	}
	if t.Register {
		regTimer = time.NewTimer(0)
		defer regTimer.Stop()
		reg = regTimer.C
	}
	for {
		select {
		case <-ctx.Done():
			if t.Register {
				a.unregister(t)
			}
			return
		case <-ping:
			a.ping(ctx, i)
			pingTimer.Reset(t.KeepAlive)
		case <-reg:
			next, err := a.register(ctx, t, t.RegisterExpiry)
			if err != nil {
				if ctx.Err() != nil {
					continue
				}
				a.log.Warn("registration failed", "trunk", t.Name, "err", err)
				next = 30 * time.Second
			}
			regTimer.Reset(next)
		}
	}
}

// ping sends trunk i an OPTIONS: any response at all means it is up.
func (a *Agent) ping(ctx context.Context, i int) {
	t := &a.cfg.trunks[i]
	ctx, cancel := context.WithTimeout(ctx, min(t.KeepAlive, 5*time.Second))
	defer cancel()
	req := a.outOfDialog(t, sipmsg.OPTIONS, t.uri)
	_, err := a.clients[t.transport].Do(ctx, req)
	h := a.health[i]
	was := h.state.Load()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return
		}
		h.state.Store(2)
		if was != 2 {
			a.log.Warn("trunk down", "trunk", t.Name, "err", err)
		}
		a.metrics.trunkUp.WithLabelValues(t.Name).Set(0)
		return
	}
	h.state.Store(1)
	if was != 1 {
		a.log.Info("trunk up", "trunk", t.Name)
	}
	a.metrics.trunkUp.WithLabelValues(t.Name).Set(1)
}

// register sends a REGISTER for expiry (zero to unregister), answering a
// challenge, and returns when to refresh it.
func (a *Agent) register(ctx context.Context, t *trunk, expiry time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	registrar := sipmsg.Uri{Scheme: t.uri.Scheme, Host: t.uri.Host, Port: t.uri.Port}
	req := a.outOfDialog(t, sipmsg.REGISTER, registrar)
	aor := sipmsg.Uri{Scheme: "sip", User: t.FromUser, Host: t.FromDomain}
	req.ReplaceHeader(&sipmsg.ToHeader{Address: aor, Params: sipmsg.NewParams()})
	exp := sipmsg.ExpiresHeader(uint32(expiry / time.Second))
	req.AppendHeader(&exp)
	cli := a.clients[t.transport]
	res, err := cli.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) && t.Password != "" {
		res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: t.Username, Password: t.Password})
	}
	if err != nil {
		return 0, err
	}
	if !res.IsSuccess() {
		return 0, fmt.Errorf("sip: REGISTER: %d %s", res.StatusCode, res.Reason)
	}
	granted := expiry
	if h := res.GetHeader("Expires"); h != nil {
		if s, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && s > 0 {
			granted = time.Duration(s) * time.Second
		}
	}
	a.log.Debug("registered", "trunk", t.Name, "expires", granted)
	return max(granted/2, 5*time.Second), nil
}

// unregister removes the registration, briefly, on the way out.
func (a *Agent) unregister(t *trunk) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := a.register(ctx, t, 0); err != nil {
		a.log.Debug("unregister failed", "trunk", t.Name, "err", err)
	}
}

// outOfDialog builds a request to t outside any dialog, with our From and
// Contact.
func (a *Agent) outOfDialog(t *trunk, method sipmsg.RequestMethod, uri sipmsg.Uri) *sipmsg.Request {
	if t.transport != "udp" {
		uri.UriParams = sipmsg.NewParams()
		uri.UriParams.Add("transport", t.transport)
	}
	req := sipmsg.NewRequest(method, uri)
	req.SetTransport(strings.ToUpper(t.transport))
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: t.FromUser, Host: t.FromDomain}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", Host: t.uri.Host}, Params: sipmsg.NewParams()})
	contact := a.dialogs[t.transport].ContactHDR
	req.AppendHeader(&contact)
	if t.OutboundProxy != "" {
		req.SetDestination(t.OutboundProxy)
	}
	return req
}
