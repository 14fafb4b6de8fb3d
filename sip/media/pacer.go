package media

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// defaultPacing is the strategy PacingDefault selects: the one measured
// cheaper (see the package documentation).
const defaultPacing = PacingShared

// Shared pacer constants.
const (
	// ringFrames is how many encoded frames a playing session keeps
	// ready for the pacer (160 ms).
	ringFrames = 8
	// lowWater: when the ring holds this few frames, the pacer wakes the
	// session's Play goroutine to refill it, so Play wakes every
	// (ringFrames-lowWater) frames rather than every frame.
	lowWater = 4
	// coalesce: the pacer sends, at each wake-up, every frame due within
	// this long, so that sessions whose deadlines are close share one
	// wake-up. Frames leave up to this much early.
	coalesce = time.Millisecond
)

// pacer is a shard of an Engine's shared pacer: one goroutine, running only
// while some session of the shard plays, that writes each playing
// session's next frame at its deadline from a heap ordered by deadline.
type pacer struct {
	mu      sync.Mutex // held while frames are written
	h       streamHeap
	running bool
	wake    chan struct{} // an earlier deadline was added
}

// newPacers returns n pacer shards. Sending is dominated by the sendto
// system call (several µs a packet), so one goroutine would saturate one
// core at a few thousand calls; a shard per processor spreads the writes.
func newPacers(n int) []*pacer {
	ps := make([]*pacer, max(n, 1))
	for i := range ps {
		ps[i] = &pacer{wake: make(chan struct{}, 1)}
	}
	return ps
}

// stream is one session's audio in the shared pacer. The ring of frames is
// single-producer (the Play goroutine appends at tail) and single-consumer
// (the pacer takes at head); everything else is touched by the pacer while
// the stream is scheduled, and by Play before and after.
type stream struct {
	s   *Session
	p   *pacer // the shard it is scheduled on
	idx int    // in the heap; -1 when not scheduled

	deadline time.Time
	pt       uint8
	ts       uint32
	marker   bool
	sent     bool      // a frame went out
	lastAt   time.Time // deadline and timestamp of the last frame sent
	lastTS   uint32
	err      error // why the pacer stopped the stream

	frames     [ringFrames][frameSamples]byte
	head, tail atomic.Uint32
	eof        atomic.Bool   // no frame will be appended
	need       chan struct{} // the ring runs low
	fin        chan struct{} // the pacer finished the stream
}

// newStream returns the stream of s on pacer p.
func newStream(s *Session, p *pacer) *stream {
	return &stream{s: s, p: p, idx: -1, need: make(chan struct{}, 1), fin: make(chan struct{}, 1)}
}

// add schedules st.
func (p *pacer) add(st *stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	heap.Push(&p.h, st)
	switch {
	case !p.running:
		p.running = true
		go p.run()
	case st.idx == 0:
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// remove unschedules st, if scheduled. When it returns, the pacer no
// longer touches st.
func (p *pacer) remove(st *stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.idx >= 0 {
		heap.Remove(&p.h, st.idx)
	}
}

// run is the pacer goroutine. It exits when no stream is scheduled.
func (p *pacer) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if len(p.h) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		now := time.Now()
		if wait := p.h[0].deadline.Sub(now); wait > 0 {
			p.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.wake:
				timer.Stop()
			}
			continue
		}
		limit := now.Add(coalesce)
		for len(p.h) > 0 && !p.h[0].deadline.After(limit) {
			st := p.h[0]
			if !st.tick() {
				heap.Pop(&p.h)
				continue
			}
			st.deadline = st.deadline.Add(frameDur)
			if now.Sub(st.deadline) > maxLate {
				st.deadline = now // stalled: go on from now, no burst
			}
			heap.Fix(&p.h, 0)
		}
		p.mu.Unlock()
	}
}

// tick sends the stream's next frame and reports whether the stream goes
// on. p.mu is held.
func (st *stream) tick() bool {
	head := st.head.Load()
	eof := st.eof.Load() // before tail: once eof is set, tail is final
	if head == st.tail.Load() {
		if eof {
			st.finish(nil)
			return false
		}
		// Play did not refill in time: a gap in the audio. The clock
		// goes on; the frame after the gap starts a new talkspurt.
		st.s.c.underruns.Add(1)
		st.ts += frameSamples
		st.marker = true
		return true
	}
	if err := st.s.write(st.pt, st.marker, st.ts, st.frames[head%ringFrames][:]); err != nil {
		st.finish(err)
		return false
	}
	st.sent, st.lastAt, st.lastTS = true, st.deadline, st.ts
	st.marker, st.ts = false, st.ts+frameSamples
	st.head.Store(head + 1)
	if !eof && st.tail.Load()-(head+1) <= lowWater {
		select {
		case st.need <- struct{}{}:
		default:
		}
	}
	return true
}

// finish tells Play the stream is over.
func (st *stream) finish(err error) {
	st.err = err
	select {
	case st.fin <- struct{}{}:
	default:
	}
}

// fill encodes frames into the ring until it is full or the audio ends.
func (st *stream) fill() error {
	t := &st.s.tx
	for !st.eof.Load() {
		tail := st.tail.Load()
		if tail-st.head.Load() >= ringFrames {
			return nil
		}
		ok, err := t.enc.next(st.frames[tail%ringFrames][:])
		if err != nil {
			return err
		}
		if !ok {
			st.eof.Store(true)
			return nil
		}
		st.tail.Store(tail + 1)
	}
	return nil
}

// playShared hands the session's frames to the engine's pacer and refills
// them until the audio ends, ctx is cancelled or the session ends.
func (s *Session) playShared(ctx context.Context, pt uint8) error {
	st, t := s.st, &s.tx
	st.head.Store(0)
	st.tail.Store(0)
	st.eof.Store(false)
	st.sent, st.err = false, nil
	select {
	case <-st.need:
	default:
	}
	select {
	case <-st.fin:
	default:
	}
	if err := st.fill(); err != nil {
		return err
	}
	if st.tail.Load() == 0 {
		return nil // no audio
	}
	st.deadline, st.ts, st.marker = t.spurt(time.Now())
	st.pt = pt
	st.p.add(st)
	var err error
wait:
	for {
		select {
		case <-st.need:
			if err = st.fill(); err != nil {
				st.p.remove(st)
				break wait
			}
		case <-st.fin:
			err = st.err
			break wait
		case <-ctx.Done():
			st.p.remove(st)
			err = ctx.Err()
			break wait
		case <-s.done:
			st.p.remove(st)
			err = s.endErr()
			break wait
		}
	}
	if st.sent {
		t.sentAudio(st.lastAt, st.lastTS)
	}
	return err
}

// streamHeap orders scheduled streams by deadline (container/heap).
type streamHeap []*stream

func (h streamHeap) Len() int           { return len(h) }
func (h streamHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h streamHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

func (h *streamHeap) Push(x any) {
	st := x.(*stream)
	st.idx = len(*h)
	*h = append(*h, st)
}

func (h *streamHeap) Pop() any {
	old := *h
	n := len(old) - 1
	st := old[n]
	old[n] = nil
	st.idx = -1
	*h = old[:n]
	return st
}
