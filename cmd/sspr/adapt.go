package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/sip"
)

// dialer adapts a sip.Agent to the ivr.Dialer the verifier needs: ivr
// never imports sip.
type dialer struct {
	agent *sip.Agent
	opts  sip.DialOptions

	// last is the most recent call placed, and lastKeys its keys, for
	// the caller's report (sspr call prints them: it is the operator's
	// own test call).
	last     *sip.Call
	lastKeys *call
}

var _ ivr.Dialer = (*dialer)(nil)

// Dial places the call and reports ringing as an ivr event.
func (d *dialer) Dial(ctx context.Context, number string, progress func(ivr.Event)) (ivr.Call, error) {
	opts := d.opts
	opts.OnProgress = func(p sip.Progress) {
		if p == sip.Ringing && progress != nil {
			progress(ivr.Event{Kind: ivr.Ringing})
		}
	}
	c, err := d.agent.Dial(ctx, number, opts)
	if err != nil {
		de := &ivr.DialError{Result: ivr.Failed, Err: err}
		var ce *sip.CallError
		if errors.As(err, &ce) {
			de.Status = ce.Status
			switch ce.Outcome {
			case sip.Busy:
				de.Result = ivr.Busy
			case sip.Rejected:
				de.Result = ivr.Rejected
			case sip.NoAnswer:
				de.Result = ivr.NoAnswer
			case sip.Unreachable:
				de.Result = ivr.Unreachable
			}
		}
		return nil, de
	}
	d.last = c
	d.lastKeys = newCall(c)
	return d.lastKeys, nil
}

// call adapts a sip.Call to ivr.Call.
type call struct {
	c    *sip.Call
	keys chan ivr.Key

	mu      sync.Mutex
	digits  strings.Builder // the keys, for pressed
	methods []string
}

// pressed returns the keys that went through the call, and how they came.
func (k *call) pressed() (string, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.digits.String(), slices.Clone(k.methods)
}

var _ ivr.Call = (*call)(nil)

// newCall starts the goroutine that turns the call's digits into keys; it
// ends when the call does.
func newCall(c *sip.Call) *call {
	k := &call{c: c, keys: make(chan ivr.Key, 16)}
	go func() {
		defer close(k.keys)
		for d := range c.Digits() {
			m := d.Method.String()
			k.mu.Lock()
			k.digits.WriteByte(d.Key)
			if !slices.Contains(k.methods, m) {
				k.methods = append(k.methods, m)
			}
			k.mu.Unlock()
			select {
			case k.keys <- ivr.Key{Key: d.Key, At: d.At, Method: m}:
			case <-c.Done(): // nobody reads any more: drain to the end
			}
		}
	}()
	return k
}

func (k *call) Play(ctx context.Context, audio io.Reader, enc dtmf.Encoding) error {
	return k.c.Play(ctx, audio, enc)
}

func (k *call) Keys() <-chan ivr.Key { return k.keys }

func (k *call) Hangup(ctx context.Context) error { return k.c.Hangup(ctx) }

// End maps how the call ended by itself to a result.
func (k *call) End() ivr.Result {
	<-k.c.Done()
	switch k.c.Outcome() {
	case sip.HungUp:
		return ivr.HungUp
	case sip.MediaTimeout:
		return ivr.MediaTimeout
	}
	return ivr.Failed
}
