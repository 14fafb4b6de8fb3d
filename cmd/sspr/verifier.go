package main

import (
	"context"
	"errors"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal"
	"github.com/sspr-project/sspr/sip"
)

// callVerifier is the portal's Verifier: each verification is an ivr
// conversation over a call the SIP agent places. It is safe for
// concurrent use: every call gets a dialer of its own, since a dialer
// keeps the call it placed.
type callVerifier struct {
	agent *sip.Agent
	ivr   *ivr.Verifier
	// opts are the dial options of every call (the ring timeout).
	opts sip.DialOptions
	// language is the prompts' language for a request that names none.
	language string
}

var _ portal.Verifier = (*callVerifier)(nil)

// Verify places the call, runs the conversation, and returns its outcome
// with the SIP Call-ID of the call placed.
func (v *callVerifier) Verify(ctx context.Context, req ivr.Request, progress func(ivr.Event)) portal.Verification {
	if req.Language == "" {
		req.Language = v.language
	}
	d := &dialer{agent: v.agent, opts: v.opts}
	// The SIP lines of this call carry the caller's fields (reset_id,
	// user) beside their call_id.
	d.opts.Log = req.Log
	out := v.ivr.Verify(ctx, d, req, progress)
	// Verify has returned, so Dial has too: d.last is settled.
	res := portal.Verification{Outcome: out}
	var ce *sip.CallError
	switch {
	case d.last != nil:
		res.CallID = d.last.ID()
	case errors.As(out.Err, &ce):
		// A call that was not answered: the INVITE's Call-ID.
		res.CallID = ce.CallID
	}
	return res
}
