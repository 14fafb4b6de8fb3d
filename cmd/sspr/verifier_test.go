package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/sip/siptest"
)

// TestCallVerifier runs the portal's verifier against SIPp callees: the
// outcome, and the Call-ID of the call placed.
func TestCallVerifier(t *testing.T) {
	cases := []struct {
		name   string
		uas    siptest.UAS
		req    ivr.Request
		want   ivr.Result
		status int
		callID bool
	}{
		{"confirm", siptest.UAS{Mode: siptest.DTMF, Digits: "#"}, ivr.Request{Mode: ivr.ModeConfirm}, ivr.Confirmed, 200, true},
		{"match", siptest.UAS{Mode: siptest.DTMF, Digits: "37#"}, ivr.Request{Mode: ivr.ModeMatch, Match: "37"}, ivr.Confirmed, 200, true},
		{"fraud", siptest.UAS{Mode: siptest.DTMF, Digits: "0"}, ivr.Request{Mode: ivr.ModeConfirm}, ivr.FraudReported, 200, true},
		{"busy", siptest.UAS{Mode: siptest.Busy}, ivr.Request{Mode: ivr.ModeConfirm}, ivr.Busy, 486, true},
		{"decline", siptest.UAS{Mode: siptest.Decline}, ivr.Request{Mode: ivr.ModeConfirm}, ivr.Rejected, 603, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := siptest.SIPp(t, tc.uas)
			v := &callVerifier{agent: runAgent(t, p.Addr), ivr: verifier(t, 5*time.Second), language: "en"}
			req := tc.req
			req.Number = "+15551234567"
			var (
				mu     sync.Mutex
				events []ivr.EventKind
			)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got := v.Verify(ctx, req, func(e ivr.Event) {
				mu.Lock()
				events = append(events, e.Kind)
				mu.Unlock()
			})
			if got.Result != tc.want || got.Status != tc.status {
				t.Fatalf("result %s status %d (err %v), want %s %d", got.Result, got.Status, got.Err, tc.want, tc.status)
			}
			if (got.CallID != "") != tc.callID {
				t.Errorf("CallID %q, want one: %v", got.CallID, tc.callID)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(events) == 0 || events[0] != ivr.Dialing || events[len(events)-1] != ivr.Finished {
				t.Errorf("events %v, want dialing first and finished last", events)
			}
		})
	}
}

// TestCallVerifierConcurrent: calls verified at the same time through one
// verifier each report their own Call-ID.
func TestCallVerifierConcurrent(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: "#"})
	v := &callVerifier{agent: runAgent(t, p.Addr), ivr: verifier(t, 5*time.Second)}
	const n = 4
	ids := make([]string, n)
	results := make([]ivr.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got := v.Verify(ctx, ivr.Request{Number: "+15551234567", Mode: ivr.ModeConfirm}, nil)
			ids[i], results[i] = got.CallID, got.Result
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if results[i] != ivr.Confirmed || ids[i] == "" || seen[ids[i]] {
			t.Fatalf("call %d: %s, Call-ID %q (all: %q)", i, results[i], ids[i], ids)
		}
		seen[ids[i]] = true
	}
}
