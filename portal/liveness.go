package portal

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/store"
)

// Node liveness. Every node writes a heartbeat to the store every
// beatEvery while it runs. A call marked running on another node whose
// heartbeat is older than lostAfterBeats beats (or that was never seen
// since the call started) is lost: the node was killed or crashed before
// the call ended. The first node to notice records it once, as a failed
// call (audit outcome "node-lost"), and the session can call again within
// its gate's attempts. A node's own calls are never lost by this rule
// while it runs.
const (
	// beatEvery is how often a node writes its heartbeat.
	beatEvery = 2 * time.Second
	// lostAfterBeats is how many heartbeats a node may miss before its
	// calls count as lost.
	lostAfterBeats = 3
	// seenCacheFor is how long a node keeps another node's heartbeat
	// time before reading it again: stale runs on every page and event
	// stream re-read of a session with a running call.
	seenCacheFor = time.Second
)

// lostOutcome is the audit outcome of a call lost with its node.
const lostOutcome = "node-lost"

// liveness is the node's heartbeat and its cache of other nodes'.
type liveness struct {
	// stop ends the heartbeat and waits for it (Close ends it too,
	// through the Server's ctx). Tests call it to play a crash.
	stop func()
	// lost counts the calls this node found lost with their node.
	lost prometheus.Counter

	mu   sync.Mutex
	seen map[string]seenAt
}

// newLiveness makes the liveness state, its metric registered on reg (nil: not registered).
func newLiveness(reg prometheus.Registerer) (*liveness, error) {
	l := &liveness{seen: map[string]seenAt{}, lost: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sspr_portal_calls_lost_total",
		Help: "Verification calls found still marked running after the node that owned them stopped beating (killed or crashed), recorded as failed.",
	})}
	if reg != nil {
		if err := reg.Register(l.lost); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// startBeat starts the node's heartbeat, tracked for Close.
func (s *Server) startBeat() {
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	s.live.stop = func() { cancel(); <-done }
	s.bg.Add(1)
	go func() {
		defer close(done)
		s.beat(ctx)
	}()
}

type seenAt struct {
	seen, read time.Time
}

// beat writes the node's heartbeat now and every beatEvery until ctx ends.
func (s *Server) beat(ctx context.Context) {
	defer s.bg.Done()
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	for {
		bctx, cancel := context.WithTimeout(ctx, beatEvery)
		if err := s.st.Beat(bctx, s.node, s.now()); err != nil && ctx.Err() == nil {
			s.log.Warn("portal: heartbeat not written", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// nodeLost reports whether node, which started a call at started, has not
// beaten for lostAfterBeats beats since. A store error says no: a call is
// never declared lost on a guess.
func (s *Server) nodeLost(node string, started time.Time) bool {
	now := s.now()
	if now.Sub(started) <= lostAfterBeats*beatEvery {
		return false // too young to tell (no store read)
	}
	s.live.mu.Lock()
	c, ok := s.live.seen[node]
	s.live.mu.Unlock()
	if !ok || now.Sub(c.read) > seenCacheFor || now.Before(c.read) {
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
		seen, err := s.st.NodeSeen(ctx, node)
		cancel()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("portal: node heartbeat not read", "err", err)
			return false
		}
		c = seenAt{seen: seen, read: now}
		s.live.mu.Lock()
		for n, v := range s.live.seen { // forget what is long out of date
			if now.Sub(v.read) > time.Minute {
				delete(s.live.seen, n)
			}
		}
		s.live.seen[node] = c
		s.live.mu.Unlock()
	}
	last := c.seen
	if last.Before(started) {
		last = started
	}
	return now.Sub(last) > lostAfterBeats*beatEvery
}

// settleLost records, once whichever node notices first, that the running
// call of st is lost (see stale), and returns the session as it is
// afterwards: the call failed, another offered if the gate has attempts
// left, else the gate failed.
func (s *Server) settleLost(ctx context.Context, st *sessionState) *sessionState {
	c := st.flow.Call
	if c == nil || !c.Running || st.ses.State != store.StateActive || !s.stale(c) {
		return st
	}
	gs := s.gates(st)
	if c.Gate < 0 || c.Gate >= len(gs) {
		return st
	}
	node, attempt, idx := c.Node, c.Attempt, c.Gate
	saved := false
	next, err := s.update(ctx, st.ses.ID, func(st *sessionState) error {
		c := st.flow.Call
		if c == nil || !c.Running || c.Node != node || c.Attempt != attempt || c.Gate != idx {
			return errStop // someone settled it, or the call ended after all
		}
		c.Running, c.Result, c.Step = false, string(ivr.Failed), string(ivr.Finished)
		saved = true
		return nil
	})
	if err != nil || !saved {
		if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrExpired) {
			s.log.Warn("portal: lost call not recorded", "reset_id", st.ses.ID, "err", err)
		}
		if fresh, err := s.load(ctx, st.ses.ID); err == nil {
			return fresh
		}
		return st
	}
	user := next.ses.Username
	s.live.lost.Inc()
	s.audit(ctx, "call", user, "", lostOutcome, c.CallID, st.ses.ID)
	s.log.Warn("portal: call lost with its node", "reset_id", st.ses.ID, "user", user, "node", node)
	// What follows a failed call: another attempt offered, or the gate failed.
	if err := s.callEnded(st.ses.ID, idx, attempt, gs[idx], "", ivr.Failed, time.Time{}); err != nil {
		s.log.Error("portal: recording the lost call's end failed", "reset_id", st.ses.ID, "err", err)
	}
	if fresh, err := s.load(ctx, st.ses.ID); err == nil {
		return fresh
	}
	return next
}
