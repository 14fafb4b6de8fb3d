package dtmf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rxPT is the telephone-event payload type the RED tests use.
const rxPT = 101

// rxBase is the fixed clock origin of the receiver tests.
var rxBase = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rxEv encodes one RFC 4733 report of key.
func rxEv(key byte, end bool, vol uint8, dur uint16) []byte {
	code, ok := EventCode(key)
	if !ok {
		panic(fmt.Sprintf("rxEv: %q is not a key", key))
	}
	return rxCode(code, end, vol, dur)
}

// rxCode encodes one RFC 4733 report of any event code.
func rxCode(code uint8, end bool, vol uint8, dur uint16) []byte {
	b := []byte{code, vol, 0, 0}
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], dur)
	return b
}

// rxCat concatenates reports into one payload.
func rxCat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// rxOp is what a test step does.
type rxOp uint8

const (
	rxRecv    rxOp = iota // Receive
	rxRecvRED             // ReceiveRED with rxPT
	rxExpire              // Expire
	rxFlush               // Flush
	rxCount               // check that n events were reported so far
)

// rxStep is one call on the receiver, at rxBase+at.
type rxStep struct {
	at  time.Duration
	op  rxOp
	p   Packet
	err error // the error wanted
	n   int   // for rxCount
}

// rxStream builds the packets a peer sends, one every `every`.
type rxStream struct {
	ssrc        uint32
	seq         uint16
	seqStep     uint16        // sequence number increment; 0 means 1
	every       time.Duration // packet interval; 0 means 20 ms
	vol         uint8         // volume; 0 means 10
	sameSeqEnds bool          // end copies repeat the first end's seq (SIPp pcaps)
	noMarker    bool          // never set the marker bit
	dropFull    bool          // lose the 0xFFFF packets of long events
	red         bool          // payloads are RFC 2198: call ReceiveRED
	at          time.Duration // time of the next packet
	last        time.Duration // time of the last packet
	steps       []rxStep
}

func (s *rxStream) volume() uint8 {
	if s.vol == 0 {
		return 10
	}
	return s.vol
}

// send appends one packet.
func (s *rxStream) send(ts uint32, marker bool, payload ...[]byte) *rxStream {
	op := rxRecv
	if s.red {
		op = rxRecvRED
	}
	s.steps = append(s.steps, rxStep{at: s.at, op: op, p: Packet{
		SSRC: s.ssrc, SequenceNumber: s.seq, Timestamp: ts, Marker: marker, Payload: rxCat(payload...),
	}})
	s.next()
	return s
}

// next moves to the next packet slot without sending.
func (s *rxStream) next() {
	step := s.seqStep
	if step == 0 {
		step = 1
	}
	every := s.every
	if every == 0 {
		every = 20 * time.Millisecond
	}
	s.seq += step
	s.last = s.at
	s.at += every
}

// press sends one key: updates with durations durs (the first with the
// marker bit), then `ends` end packets of duration end.
func (s *rxStream) press(key byte, ts uint32, durs []uint16, end uint16, ends int) *rxStream {
	for i, d := range durs {
		s.send(ts, i == 0 && !s.noMarker, rxEv(key, false, s.volume(), d))
	}
	endSeq := s.seq
	for i := 0; i < ends; i++ {
		if s.sameSeqEnds {
			s.seq = endSeq
		}
		s.send(ts, len(durs) == 0 && i == 0 && !s.noMarker, rxEv(key, true, s.volume(), end))
	}
	return s
}

// long sends one key split into segments of seg ticks, updates growing by
// step, the last segment ending (3 end packets) at last.
func (s *rxStream) long(key byte, ts uint32, seg, step uint16, segments int, last uint16) *rxStream {
	first := true
	for k := 0; k < segments; k++ {
		top := seg
		if k == segments-1 {
			top = last
		}
		for d := uint32(step); d < uint32(top); d += uint32(step) {
			s.send(ts, first && !s.noMarker, rxEv(key, false, s.volume(), uint16(d)))
			first = false
		}
		if k < segments-1 {
			if s.dropFull {
				s.next()
			} else {
				s.send(ts, false, rxEv(key, false, s.volume(), seg))
			}
			ts += uint32(seg)
		}
	}
	for i := 0; i < 3; i++ {
		s.send(ts, false, rxEv(key, true, s.volume(), last))
	}
	return s
}

// wait leaves a gap before the next packet.
func (s *rxStream) wait(d time.Duration) *rxStream {
	s.at += d
	return s
}

// expire calls Expire d after the last packet.
func (s *rxStream) expire(d time.Duration) *rxStream {
	s.steps = append(s.steps, rxStep{at: s.last + d, op: rxExpire})
	return s
}

// count checks that n events were reported so far.
func (s *rxStream) count(n int) *rxStream {
	s.steps = append(s.steps, rxStep{op: rxCount, n: n})
	return s
}

// flush calls Flush.
func (s *rxStream) flush() *rxStream {
	s.steps = append(s.steps, rxStep{at: s.at, op: rxFlush})
	return s
}

// then appends the steps of another stream (another SSRC, say).
func (s *rxStream) then(o *rxStream) *rxStream {
	s.steps = append(s.steps, o.steps...)
	return s
}

// rxRamp returns n durations: first, first+step, ...
func rxRamp(first, step uint16, n int) []uint16 {
	d := make([]uint16, n)
	for i := range d {
		d[i] = first + uint16(i)*step
	}
	return d
}

// rxDrop returns steps without those at the given indexes (negative
// indexes count from the end).
func rxDrop(steps []rxStep, idx ...int) []rxStep {
	drop := map[int]bool{}
	for _, i := range idx {
		if i < 0 {
			i += len(steps)
		}
		drop[i] = true
	}
	var out []rxStep
	for i, s := range steps {
		if !drop[i] {
			out = append(out, s)
		}
	}
	return out
}

// rxLate moves step i to just after step after, arriving 1 ms after it.
func rxLate(steps []rxStep, i, after int) []rxStep {
	late := steps[i]
	late.at = steps[after].at + time.Millisecond
	var out []rxStep
	for k, s := range steps {
		if k != i {
			out = append(out, s)
		}
		if k == after {
			out = append(out, late)
		}
	}
	return out
}

// rxOrder delivers the steps at the given indexes in that order, each no
// earlier than the one before.
func rxOrder(steps []rxStep, idx ...int) []rxStep {
	out := make([]rxStep, len(idx))
	for k, i := range idx {
		out[k] = steps[i]
		if k > 0 && out[k].at < out[k-1].at {
			out[k].at = out[k-1].at
		}
	}
	return out
}

// rxTwice delivers every step twice.
func rxTwice(steps []rxStep) []rxStep {
	var out []rxStep
	for _, s := range steps {
		out = append(out, s, s)
	}
	return out
}

// rxStart and rxEnd build the wanted events at volume 10.
func rxStart(key byte, ts, dur uint32) Event {
	return Event{Key: key, Timestamp: ts, Duration: dur, Volume: 10}
}

func rxEnd(key byte, ts, dur uint32, cause EndCause) Event {
	return Event{Key: key, End: true, Timestamp: ts, Duration: dur, Volume: 10, Cause: cause}
}

// rxPairs returns the start and end of keys pressed at ts0, ts0+tsStep, ...
// each first seen at duration first and ended by the E bit at duration end.
func rxPairs(keys string, ts0, tsStep, first, end uint32) []Event {
	var evs []Event
	for i := 0; i < len(keys); i++ {
		ts := ts0 + uint32(i)*tsStep
		evs = append(evs, rxStart(keys[i], ts, first), rxEnd(keys[i], ts, end, EndBit))
	}
	return evs
}

// rxRun feeds the steps and returns the events, failing on an unexpected
// error or a broken invariant.
func rxRun(t *testing.T, r *Receiver, steps []rxStep) []Event {
	t.Helper()
	var got []Event
	var err error
	for i, s := range steps {
		now := rxBase.Add(s.at)
		switch s.op {
		case rxRecv:
			got, err = r.Receive(s.p, now, got)
		case rxRecvRED:
			got, err = r.ReceiveRED(s.p, rxPT, now, got)
		case rxExpire:
			got, err = r.Expire(now, got), nil
		case rxFlush:
			got, err = r.Flush(got), nil
		case rxCount:
			if len(got) != s.n {
				t.Fatalf("step %d: %d events so far, want %d:\n%s", i, len(got), s.n, rxFormat(got))
			}
		}
		if !errors.Is(err, s.err) {
			t.Fatalf("step %d (%+v): error %v, want %v", i, s, err, s.err)
		}
	}
	var c rxChecker
	if err := c.check(got); err != nil {
		t.Fatalf("invariant: %v\nevents:\n%s", err, rxFormat(got))
	}
	return got
}

// rxChecker checks the receiver's promises on a stream of events: every
// end follows exactly one start of the same key and timestamp, never two
// starts without an end between them, so at most one key is down.
type rxChecker struct {
	open  bool
	start Event
}

func (c *rxChecker) check(evs []Event) error {
	for i, e := range evs {
		if !ValidKey(e.Key) {
			return fmt.Errorf("event %d: key %q is not a key", i, e.Key)
		}
		if e.Volume > 63 {
			return fmt.Errorf("event %d: volume %d", i, e.Volume)
		}
		if !e.End {
			if c.open {
				return fmt.Errorf("event %d: start %v while %v is down", i, e, c.start)
			}
			if e.Cause != NoCause {
				return fmt.Errorf("event %d: start with cause %v", i, e.Cause)
			}
			c.open, c.start = true, e
			continue
		}
		switch {
		case !c.open:
			return fmt.Errorf("event %d: end %v without a start", i, e)
		case e.Key != c.start.Key || e.Timestamp != c.start.Timestamp:
			return fmt.Errorf("event %d: end %v does not match start %v", i, e, c.start)
		case e.Duration < c.start.Duration:
			return fmt.Errorf("event %d: end %v shorter than its start %v", i, e, c.start)
		case e.Cause == NoCause || e.Cause > NewSource:
			return fmt.Errorf("event %d: end with cause %v", i, e.Cause)
		}
		c.open = false
	}
	return nil
}

func rxFormat(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\t%v\n", e)
	}
	return b.String()
}

// rxCase is one receiver scenario.
type rxCase struct {
	name  string
	cfg   ReceiverConfig
	steps []rxStep
	want  []Event
	stats func(Stats) error // optional check of the counters
}

func rxRunCases(t *testing.T, cases []rxCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReceiver(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := rxRun(t, r, tc.steps)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events:\n%swant:\n%s", rxFormat(got), rxFormat(tc.want))
			}
			if tc.stats != nil {
				if err := tc.stats(r.Stats()); err != nil {
					t.Errorf("stats %+v: %v", r.Stats(), err)
				}
			}
		})
	}
}

// TestReceiverPeers replays what real peers send (telephony notes §4,
// traffic captured on Debian 12).
func TestReceiverPeers(t *testing.T) {
	ms := time.Millisecond
	rxRunCases(t, []rxCase{
		{
			name: "SIPp shipped pcap dtmf_2833_pound: first duration 0, +320 per update, 3 end copies with the same seq",
			steps: (&rxStream{ssrc: 0x3F2A1C07, seq: 6000, sameSeqEnds: true}).
				press('#', 8000, rxRamp(0, 320, 5), 1600, 3).steps,
			want: []Event{rxStart('#', 8000, 0), rxEnd('#', 8000, 1600, EndBit)},
			stats: func(s Stats) error {
				if s.Keys != 1 || s.Stale != 2 || s.Packets != 8 {
					return errors.New("want 1 key, 2 stale end copies, 8 packets")
				}
				return nil
			},
		},
		{
			name: "SIPp pcap played twice 3 s apart with the same SSRC, seq and timestamps: two keys",
			steps: func() []rxStep {
				s := &rxStream{ssrc: 0x3F2A1C07, seq: 6000, sameSeqEnds: true}
				s.press('#', 8000, rxRamp(0, 320, 5), 1600, 3)
				again := &rxStream{ssrc: 0x3F2A1C07, seq: 6000, sameSeqEnds: true, at: 3 * time.Second}
				again.press('#', 8000, rxRamp(0, 320, 5), 1600, 3)
				return s.then(again).steps
			}(),
			want: rxPairs("##", 8000, 0, 0, 1600),
		},
		{
			name: "SIPp play_dtmf 1234#,100: new SSRC, first duration 0, E x3 at 800 with increasing seq, timestamps in ms",
			steps: func() []rxStep {
				// PT 97 noop packets came first (the caller filters by PT);
				// they used sequence numbers 0-21.
				s := &rxStream{ssrc: 0x01020305, seq: 22}
				for i, k := range []byte("1234#") {
					s.press(k, 24400+200*uint32(i), rxRamp(0, 160, 5), 800, 3).wait(40 * ms)
				}
				return s.steps
			}(),
			// The timestamps advance 200 (ms) per key while each key lasts
			// 800 ticks: later keys start "inside" earlier ones, and are
			// still new keys.
			want: rxPairs("1234#", 24400, 200, 0, 800),
		},
		{
			name: "SIPp play_dtmf after a key on the audio SSRC: the SSRC change does not disturb finished keys",
			steps: func() []rxStep {
				a := &rxStream{ssrc: 0xA0D10, seq: 500}
				a.press('9', 16000, rxRamp(160, 160, 4), 800, 3)
				b := &rxStream{ssrc: 0x01020305, seq: 22, at: 400 * ms}
				b.press('1', 24400, rxRamp(0, 160, 5), 800, 3)
				return a.then(b).steps
			}(),
			want: []Event{
				rxStart('9', 16000, 160), rxEnd('9', 16000, 800, EndBit),
				rxStart('1', 24400, 0), rxEnd('1', 24400, 800, EndBit),
			},
		},
		{
			name: "baresip 1.0.0 sndcode 1#: first duration 160, 9 updates, 3 E, odd seq (audio interleaved), next key right after",
			steps: (&rxStream{ssrc: 0x6BA7E5E1, seq: 1001, seqStep: 2}).
				press('1', 48000, rxRamp(160, 160, 9), 1600, 3).
				press('#', 48000+12*160, rxRamp(160, 160, 9), 1600, 3).steps,
			want: rxPairs("1#", 48000, 12*160, 160, 1600),
		},
		{
			name: "Asterisk: E sent 3 times with increasing seq",
			steps: (&rxStream{ssrc: 0x7E57AB1E, seq: 31000}).
				press('5', 160000, rxRamp(160, 160, 4), 800, 3).wait(100*ms).
				press('0', 160000+1600, rxRamp(160, 160, 4), 800, 3).steps,
			want: rxPairs("50", 160000, 1600, 160, 800),
		},
		{
			name: "diago: back-to-back keys share one timestamp (11 then 2)",
			steps: (&rxStream{ssrc: 0xD1A60, seq: 7}).
				press('1', 320000, rxRamp(160, 160, 4), 800, 3).
				press('1', 320000, rxRamp(160, 160, 4), 800, 3).
				press('2', 320000, rxRamp(160, 160, 4), 800, 3).steps,
			want: rxPairs("112", 320000, 0, 160, 800),
		},
	})
}

// TestReceiverQuirks covers each way a stream can differ from the RFC's
// happy path.
func TestReceiverQuirks(t *testing.T) {
	ms := time.Millisecond
	press := func(key byte, ts uint32, ends int) *rxStream {
		return (&rxStream{ssrc: 0xCAFE, seq: 100}).press(key, ts, rxRamp(160, 160, 4), 800, ends)
	}
	rxRunCases(t, []rxCase{
		{
			name:  "no marker bit on any packet",
			steps: (&rxStream{ssrc: 1, seq: 1, noMarker: true}).press('7', 1000, rxRamp(160, 160, 4), 800, 3).steps,
			want:  []Event{rxStart('7', 1000, 160), rxEnd('7', 1000, 800, EndBit)},
		},
		{
			name:  "first packets lost: the key is first seen mid-event without the marker",
			steps: rxDrop(press('3', 1000, 3).steps, 0, 1),
			want:  []Event{rxStart('3', 1000, 480), rxEnd('3', 1000, 800, EndBit)},
		},
		{
			name:  "only the end packets arrive: start and end at once",
			steps: rxDrop(press('3', 1000, 3).steps, 0, 1, 2, 3),
			want:  []Event{rxStart('3', 1000, 800), rxEnd('3', 1000, 800, EndBit)},
		},
		{
			name:  "duration 0 on the only update",
			steps: (&rxStream{ssrc: 1}).press('A', 1000, []uint16{0}, 320, 3).steps,
			want:  []Event{rxStart('A', 1000, 0), rxEnd('A', 1000, 320, EndBit)},
		},
		{
			name:  "end packet with duration 0 only (broken sender)",
			steps: (&rxStream{ssrc: 1}).press('B', 1000, nil, 0, 3).steps,
			want:  []Event{rxStart('B', 1000, 0), rxEnd('B', 1000, 0, EndBit)},
		},
		{
			name:  "last update arrives after the end packets",
			steps: rxLate(press('4', 1000, 3).steps, 3, 6),
			want:  []Event{rxStart('4', 1000, 160), rxEnd('4', 1000, 800, EndBit)},
			stats: rxWantStale(3),
		},
		{
			name: "first end packet overtakes the updates",
			// The 160 and 320 packets were sent before the first packet
			// seen: stale even while the key is down.
			steps: rxOrder(press('4', 1000, 3).steps, 2, 0, 1, 4, 3, 5, 6),
			want:  []Event{rxStart('4', 1000, 480), rxEnd('4', 1000, 800, EndBit)},
			stats: rxWantStale(5),
		},
		{
			name: "end packets of a key lost, its late end arrives after the next key started",
			steps: func() []rxStep {
				s := rxDrop(press('1', 1000, 3).steps, 4, 5, 6)
				n := (&rxStream{ssrc: 0xCAFE, seq: 107, at: 200 * ms}).press('2', 2600, rxRamp(160, 160, 4), 800, 3).steps
				late := press('1', 1000, 3).steps[4]
				late.at = 230 * ms
				s = append(s, n[:2]...)
				s = append(s, late)
				return append(s, n[2:]...)
			}(),
			want: []Event{
				rxStart('1', 1000, 160), rxEnd('1', 1000, 640, NextEvent),
				rxStart('2', 2600, 160), rxEnd('2', 2600, 800, EndBit),
			},
		},
		{
			name: "all packets of an older key arrive after a newer key: ignored",
			steps: func() []rxStep {
				a := press('1', 1000, 3).steps // seq 100-106
				b := (&rxStream{ssrc: 0xCAFE, seq: 107, at: 200 * ms}).press('2', 2600, rxRamp(160, 160, 4), 800, 3).steps
				for i := range a {
					a[i].at += 400 * ms
				}
				return append(b, a...)
			}(),
			want:  []Event{rxStart('2', 2600, 160), rxEnd('2', 2600, 800, EndBit)},
			stats: rxWantStale(2 + 7),
		},
		{
			name: "same timestamp: a report of another key sent earlier (lower seq) arrives late",
			steps: func() []rxStep {
				s := (&rxStream{ssrc: 9, seq: 40}).
					press('1', 5000, rxRamp(160, 160, 4), 800, 3).
					press('2', 5000, rxRamp(160, 160, 4), 800, 3).steps
				return rxLate(rxDrop(s, 1, 2, 3, 4, 5, 6), 0, 3)
			}(),
			want: []Event{rxStart('2', 5000, 160), rxEnd('2', 5000, 800, EndBit)},
		},
		{
			name: "reordered update while the key is down does not shorten it",
			steps: append(rxOrder((&rxStream{ssrc: 1}).press('4', 1000, rxRamp(160, 160, 4), 0, 0).steps, 0, 1, 3, 2),
				rxStep{at: 80 * ms, op: rxFlush}),
			want: []Event{rxStart('4', 1000, 160), rxEnd('4', 1000, 640, Flush)},
		},
		{
			name:  "every packet duplicated",
			steps: rxTwice(press('6', 1000, 3).steps),
			want:  []Event{rxStart('6', 1000, 160), rxEnd('6', 1000, 800, EndBit)},
		},
		{
			name:  "a single end packet (RFC: sent 3 times, not all senders do)",
			steps: press('6', 1000, 1).steps,
			want:  []Event{rxStart('6', 1000, 160), rxEnd('6', 1000, 800, EndBit)},
		},
		{
			name:  "long event in two segments of 0xFFFF: one key, total = sum",
			steps: (&rxStream{ssrc: 2, every: 50 * ms}).long('0', 90000, 0xFFFF, 400, 2, 2400).steps,
			want:  []Event{rxStart('0', 90000, 400), rxEnd('0', 90000, 0xFFFF+2400, EndBit)},
		},
		{
			name:  "long event whose 0xFFFF packets were lost",
			steps: (&rxStream{ssrc: 2, every: 50 * ms, dropFull: true}).long('0', 90000, 0xFFFF, 400, 2, 2400).steps,
			want:  []Event{rxStart('0', 90000, 400), rxEnd('0', 90000, 0xFFFF+2400, EndBit)},
		},
		{
			name:  "long event in three segments across timestamp wraparound",
			steps: (&rxStream{ssrc: 2, every: 50 * ms}).long('*', 0xFFFF0000, 0xFFFF, 4000, 3, 800).steps,
			want:  []Event{rxStart('*', 0xFFFF0000, 4000), rxEnd('*', 0xFFFF0000, 2*0xFFFF+800, EndBit)},
		},
		{
			name:  "long event in segments of 0x3FFF (RFC 2198 senders)",
			steps: (&rxStream{ssrc: 2, every: 50 * ms}).long('D', 7, 0x3FFF, 400, 3, 1200).steps,
			want:  []Event{rxStart('D', 7, 400), rxEnd('D', 7, 2*0x3FFF+1200, EndBit)},
		},
		{
			name: "late packet of a long event's previous segment is ignored",
			steps: func() []rxStep {
				s := (&rxStream{ssrc: 2, every: 50 * ms}).long('0', 90000, 0xFFFF, 4000, 2, 8000).steps
				// Segment 1 has 16 updates (4000..64000) and the 0xFFFF
				// packet; deliver update 15 after segment 2 began.
				return rxLate(s, 15, 18)
			}(),
			want: []Event{rxStart('0', 90000, 4000), rxEnd('0', 90000, 0xFFFF+8000, EndBit)},
		},
		{
			name:  "end packets all lost: timeout after the default 150 ms",
			steps: press('8', 1000, 0).expire(149 * ms).count(1).expire(150 * ms).count(2).expire(400 * ms).steps,
			want:  []Event{rxStart('8', 1000, 160), rxEnd('8', 1000, 640, Timeout)},
		},
		{
			name:  "end packets all lost: the next key ends it",
			steps: press('8', 1000, 0).wait(60*ms).press('9', 1000+1600, rxRamp(160, 160, 4), 800, 3).steps,
			want: []Event{
				rxStart('8', 1000, 160), rxEnd('8', 1000, 640, NextEvent),
				rxStart('9', 2600, 160), rxEnd('9', 2600, 800, EndBit),
			},
		},
		{
			name: "end packets all lost: the same key pressed again ends it",
			steps: press('8', 1000, 0).wait(60*ms).
				press('8', 1000+1600, rxRamp(160, 160, 4), 800, 3).steps,
			want: []Event{
				rxStart('8', 1000, 160), rxEnd('8', 1000, 640, NextEvent),
				rxStart('8', 2600, 160), rxEnd('8', 2600, 800, EndBit),
			},
		},
		{
			name: "timeout adapts to a 100 ms update interval",
			steps: (&rxStream{ssrc: 3, every: 100 * ms}).press('5', 1000, rxRamp(800, 800, 4), 0, 0).
				expire(299 * ms).count(1).expire(300 * ms).count(2).steps,
			want: []Event{rxStart('5', 1000, 800), rxEnd('5', 1000, 3200, Timeout)},
		},
		{
			name: "timeout of a new key uses the previous key's interval until its second packet",
			steps: (&rxStream{ssrc: 3, every: 100 * ms}).press('5', 1000, rxRamp(800, 800, 4), 4000, 3).
				press('6', 9000, []uint16{800}, 0, 0).expire(299 * ms).count(3).expire(300 * ms).count(4).steps,
			want: []Event{
				rxStart('5', 1000, 800), rxEnd('5', 1000, 4000, EndBit),
				rxStart('6', 9000, 800), rxEnd('6', 9000, 800, Timeout),
			},
		},
		{
			name: "adaptive timeout is capped at 1 s",
			// Gaps of 140 ms then 400 ms (each under the timeout so far):
			// 3 x 400 ms is capped to 1 s.
			steps: (&rxStream{ssrc: 3, every: 140 * ms}).press('5', 1000, rxRamp(160, 160, 2), 0, 0).wait(260*ms).
				press('5', 1000, []uint16{480}, 0, 0).expire(999 * ms).count(1).expire(1000 * ms).count(2).steps,
			want: []Event{rxStart('5', 1000, 160), rxEnd('5', 1000, 480, Timeout)},
		},
		{
			name: "a marker packet of an older finished key while a newer key is down is stale",
			steps: press('1', 1000, 3).
				press('2', 2600, rxRamp(160, 160, 2), 0, 0).
				send(1000, true, rxEv('1', false, 10, 160)).flush().steps,
			want: append(rxPairs("1", 1000, 0, 160, 800),
				rxStart('2', 2600, 160), rxEnd('2', 2600, 320, Flush)),
		},
		{
			name:  "configured fixed timeout of 50 ms",
			cfg:   ReceiverConfig{Timeout: 50 * ms},
			steps: press('5', 1000, 0).expire(49 * ms).count(1).expire(50 * ms).count(2).steps,
			want:  []Event{rxStart('5', 1000, 160), rxEnd('5', 1000, 640, Timeout)},
		},
		{
			name: "end packets arriving after the timeout are ignored",
			steps: func() []rxStep {
				s := press('5', 1000, 3).steps
				for i := 4; i < len(s); i++ {
					s[i].at += 500 * ms
				}
				return append(s[:4:4], append([]rxStep{{at: 300 * ms, op: rxExpire}}, s[4:]...)...)
			}(),
			want:  []Event{rxStart('5', 1000, 160), rxEnd('5', 1000, 640, Timeout)},
			stats: rxWantStale(3),
		},
		{
			name: "next key long after the last packet, without Expire: the old key ends by timeout",
			steps: press('5', 1000, 0).wait(time.Second).
				press('6', 9000, rxRamp(160, 160, 4), 800, 3).steps,
			want: []Event{
				rxStart('5', 1000, 160), rxEnd('5', 1000, 640, Timeout),
				rxStart('6', 9000, 160), rxEnd('6', 9000, 800, EndBit),
			},
		},
		{
			name: "several events in one packet (RFC 4733 2.5.1.5), repeated in the next",
			steps: (&rxStream{ssrc: 4, seq: 10}).
				send(1000, true, rxEv('1', true, 10, 800), rxEv('2', false, 10, 400)).
				send(1000, false, rxEv('1', true, 10, 800), rxEv('2', true, 10, 800)).
				send(1000, false, rxEv('1', true, 10, 800), rxEv('2', true, 10, 800)).steps,
			want: []Event{
				rxStart('1', 1000, 800), rxEnd('1', 1000, 800, EndBit),
				rxStart('2', 1800, 400), rxEnd('2', 1800, 800, EndBit),
			},
		},
		{
			name:  "volume below -55 dBm0 is ignored",
			steps: (&rxStream{ssrc: 5, vol: 56}).press('1', 1000, rxRamp(160, 160, 4), 800, 3).steps,
			want:  nil,
			stats: func(s Stats) error {
				if s.Quiet != 7 || s.Keys != 0 {
					return errors.New("want 7 quiet reports and no key")
				}
				return nil
			},
		},
		{
			name:  "volume -55 dBm0 is accepted",
			steps: (&rxStream{ssrc: 5, vol: 55}).press('1', 1000, []uint16{160}, 320, 1).steps,
			want: []Event{
				{Key: '1', Timestamp: 1000, Duration: 160, Volume: 55},
				{Key: '1', End: true, Timestamp: 1000, Duration: 320, Volume: 55, Cause: EndBit},
			},
		},
		{
			name:  "MaxVolume 63 accepts every volume",
			cfg:   ReceiverConfig{MaxVolume: 63},
			steps: (&rxStream{ssrc: 5, vol: 63}).press('1', 1000, []uint16{160}, 320, 1).steps,
			want: []Event{
				{Key: '1', Timestamp: 1000, Duration: 160, Volume: 63},
				{Key: '1', End: true, Timestamp: 1000, Duration: 320, Volume: 63, Cause: EndBit},
			},
		},
		{
			name: "quiet report ignored, then the key is heard at its first loud report",
			steps: (&rxStream{ssrc: 5}).
				send(1000, true, rxEv('2', false, 60, 160)).
				send(1000, false, rxEv('2', false, 12, 320)).
				send(1000, false, rxEv('2', true, 60, 480)).steps,
			want: []Event{
				{Key: '2', Timestamp: 1000, Duration: 320, Volume: 12},
				{Key: '2', End: true, Timestamp: 1000, Duration: 480, Volume: 60, Cause: EndBit},
			},
		},
		{
			name: "R bit is ignored",
			steps: (&rxStream{ssrc: 5}).
				send(1000, true, []byte{1, 0x40 | 12, 0, 160}).
				send(1000, false, []byte{1, 0x80 | 0x40 | 12, 1, 64}).steps,
			want: []Event{
				{Key: '1', Timestamp: 1000, Duration: 160, Volume: 12},
				{Key: '1', End: true, Timestamp: 1000, Duration: 320, Volume: 12, Cause: EndBit},
			},
		},
		{
			name: "SSRC change ends the key and forgets the history",
			steps: press('5', 1000, 0).
				then((&rxStream{ssrc: 0xBEEF, seq: 1, at: 100 * ms}).press('5', 1000, rxRamp(160, 160, 4), 800, 3)).steps,
			want: []Event{
				rxStart('5', 1000, 160), rxEnd('5', 1000, 640, NewSource),
				rxStart('5', 1000, 160), rxEnd('5', 1000, 800, EndBit),
			},
		},
		{
			name: "SSRC change forgets the packet interval of the old stream",
			steps: (&rxStream{ssrc: 3, every: 100 * ms}).press('5', 1000, rxRamp(800, 800, 2), 1600, 1).
				then((&rxStream{ssrc: 4, at: 300 * ms, last: 300 * ms}).send(500, true, rxEv('6', false, 10, 160)).
					expire(149 * ms).count(3).expire(150 * ms).count(4)).steps,
			want: []Event{
				{Key: '5', Timestamp: 1000, Duration: 800, Volume: 10}, rxEnd('5', 1000, 1600, EndBit),
				rxStart('6', 500, 160), rxEnd('6', 500, 160, Timeout),
			},
		},
		{
			name: "event codes 16 and above are not keys: ignored, the key in progress goes on",
			steps: (&rxStream{ssrc: 6}).
				send(1000, true, rxEv('1', false, 10, 160)).
				send(1160, true, rxCode(16, false, 10, 160)).
				send(1320, true, rxCode(255, true, 10, 160)).
				send(1000, false, rxEv('1', true, 10, 480)).steps,
			want: []Event{rxStart('1', 1000, 160), rxEnd('1', 1000, 480, EndBit)},
			stats: func(s Stats) error {
				if s.NotKeys != 2 {
					return errors.New("want 2 non-key reports")
				}
				return nil
			},
		},
		{
			name: "timestamp wraparound: a key after 0xFFFFFFFF is newer, a late report before it is stale",
			steps: func() []rxStep {
				s := (&rxStream{ssrc: 7, seq: 1}).
					press('1', 0xFFFFFE00, rxRamp(160, 160, 4), 800, 3).
					press('2', 0x00000100, rxRamp(160, 160, 4), 800, 3).steps
				return rxLate(s, 6, 8)
			}(),
			want: append(rxPairs("1", 0xFFFFFE00, 0, 160, 800), rxPairs("2", 0x100, 0, 160, 800)...),
		},
		{
			name: "sequence wraparound: back-to-back presses at one timestamp across seq 0xFFFF",
			steps: (&rxStream{ssrc: 7, seq: 0xFFFA}).
				press('1', 5000, rxRamp(160, 160, 4), 800, 3).
				press('1', 5000, rxRamp(160, 160, 4), 800, 3).steps,
			want: rxPairs("11", 5000, 0, 160, 800),
		},
		{
			name: "timestamp going backwards within the history: ignored",
			steps: press('1', 100000, 3).
				then((&rxStream{ssrc: 0xCAFE, seq: 107, at: 500 * ms}).press('2', 500, rxRamp(160, 160, 4), 800, 3)).steps,
			want: rxPairs("1", 100000, 0, 160, 800),
		},
		{
			name: "timestamp reset after 2 s of silence (broken sender): heard again",
			steps: press('1', 100000, 3).
				then((&rxStream{ssrc: 0xCAFE, seq: 107, at: 2200 * ms}).press('2', 500, rxRamp(160, 160, 4), 800, 3)).steps,
			want: append(rxPairs("1", 100000, 0, 160, 800), rxPairs("2", 500, 0, 160, 800)...),
		},
		{
			name:  "configured history of 5 s: a timestamp reset after 3 s is still ignored",
			cfg:   ReceiverConfig{History: 5 * time.Second},
			steps: press('1', 100000, 3).then((&rxStream{ssrc: 0xCAFE, seq: 107, at: 3 * time.Second}).press('2', 500, rxRamp(160, 160, 4), 800, 3)).steps,
			want:  rxPairs("1", 100000, 0, 160, 800),
		},
		{
			name:  "Flush ends the key in progress",
			steps: press('C', 1000, 0).flush().flush().steps,
			want:  []Event{rxStart('C', 1000, 160), rxEnd('C', 1000, 640, Flush)},
		},
		{
			name: "malformed payloads are errors and change nothing",
			steps: func() []rxStep {
				s := press('4', 1000, 3).steps
				bad := func(at time.Duration, pl []byte) rxStep {
					return rxStep{at: at, p: Packet{SSRC: 0xBAD, Timestamp: 99, Payload: pl}, err: ErrShortPayload}
				}
				out := []rxStep{bad(0, nil), s[0], bad(1, []byte{1}), s[1], bad(2, make([]byte, 6))}
				out = append(out, s[2:4]...)
				out = append(out, bad(999*ms, rxCat(rxEv('9', false, 10, 160), []byte{0, 0, 0})))
				return append(out, s[4:]...)
			}(),
			want: []Event{rxStart('4', 1000, 160), rxEnd('4', 1000, 800, EndBit)},
			stats: func(s Stats) error {
				if s.Malformed != 4 {
					return errors.New("want 4 malformed")
				}
				return nil
			},
		},
	})
}

// rxWantStale checks the Stale counter.
func rxWantStale(n uint64) func(Stats) error {
	return func(s Stats) error {
		if s.Stale != n {
			return fmt.Errorf("want %d stale reports", n)
		}
		return nil
	}
}

// rxRED builds an RFC 2198 payload: redundant blocks (pt, offset, data)
// then the primary block.
type rxBlock struct {
	pt     uint8
	offset uint32
	data   []byte
}

func rxRED(primaryPT uint8, primary []byte, redundant ...rxBlock) []byte {
	var b []byte
	for _, r := range redundant {
		b = binary.BigEndian.AppendUint32(b, 1<<31|uint32(r.pt)<<24|r.offset<<10|uint32(len(r.data)))
	}
	b = append(b, primaryPT)
	for _, r := range redundant {
		b = append(b, r.data...)
	}
	return append(b, primary...)
}

// rxREDStream wraps the reports of a plain stream into RFC 2198 packets
// carrying the previous `levels` reports as redundancy.
func rxREDStream(steps []rxStep, levels int) []rxStep {
	out := make([]rxStep, len(steps))
	for i, s := range steps {
		var red []rxBlock
		for j := levels; j >= 1; j-- {
			if i-j < 0 {
				continue
			}
			o := steps[i-j].p
			red = append(red, rxBlock{pt: rxPT, offset: s.p.Timestamp - o.Timestamp, data: o.Payload})
		}
		out[i] = s
		out[i].op = rxRecvRED
		out[i].p.Payload = rxRED(rxPT, s.p.Payload, red...)
	}
	return out
}

func TestReceiverRED(t *testing.T) {
	twoKeys := func() []rxStep {
		return (&rxStream{ssrc: 0x2198, seq: 300}).
			press('1', 8000, rxRamp(160, 160, 4), 800, 3).wait(40*time.Millisecond).
			press('2', 10000, rxRamp(160, 160, 4), 800, 3).steps
	}
	want := append(rxPairs("1", 8000, 0, 160, 800), rxPairs("2", 10000, 0, 160, 800)...)
	bad := func(pl []byte, err error) rxStep {
		return rxStep{at: time.Hour, op: rxRecvRED, p: Packet{SSRC: 0xBAD, Payload: pl}, err: err}
	}
	audio := make([]byte, 160)
	rxRunCases(t, []rxCase{
		{
			name:  "primary block only",
			steps: rxREDStream(twoKeys(), 0),
			want:  want,
		},
		{
			name:  "two levels of redundancy",
			steps: rxREDStream(twoKeys(), 2),
			want:  want,
		},
		{
			name: "redundancy recovers lost packets: every end packet and the first update of the second key",
			// Packets: key 1 = 0-6 (ends 4-6), key 2 = 7-13 (ends 11-13).
			steps: rxDrop(rxREDStream(twoKeys(), 2), 5, 6, 7, 12, 13),
			want:  want,
		},
		{
			name:  "redundancy in the next key's first packet (offset 2000) recovers a key's lost end packets",
			steps: rxDrop(rxREDStream(twoKeys(), 2), 4, 5, 6),
			want:  want,
		},
		{
			name: "audio blocks of another payload type are skipped",
			steps: (&rxStream{ssrc: 3, red: true}).
				send(1000, true, rxRED(0, audio, rxBlock{pt: rxPT, offset: 0, data: rxEv('7', false, 10, 160)})).
				send(1000, false, rxRED(rxPT, rxEv('7', true, 10, 320), rxBlock{pt: 0, offset: 160, data: audio})).
				steps,
			want: []Event{rxStart('7', 1000, 160), rxEnd('7', 1000, 320, EndBit)},
		},
		{
			name: "blocks listed newest first are still fed oldest first, packet order kept for equal offsets",
			steps: (&rxStream{ssrc: 3, red: true}).
				send(2600, false, rxRED(rxPT, rxEv('2', false, 10, 160),
					rxBlock{pt: rxPT, offset: 1600, data: rxEv('1', false, 10, 640)},
					rxBlock{pt: rxPT, offset: 1600, data: rxEv('1', true, 10, 800)},
					rxBlock{pt: rxPT, offset: 1800, data: rxEv('0', true, 10, 800)},
				)).steps,
			want: []Event{
				rxStart('0', 800, 800), rxEnd('0', 800, 800, EndBit),
				rxStart('1', 1000, 640), rxEnd('1', 1000, 800, EndBit),
				rxStart('2', 2600, 160),
			},
		},
		{
			name: "empty event blocks are skipped",
			steps: (&rxStream{ssrc: 3, red: true}).
				send(1000, true, rxRED(rxPT, nil, rxBlock{pt: rxPT, data: nil})).
				send(1000, true, rxRED(rxPT, rxEv('3', true, 10, 800), rxBlock{pt: rxPT, data: nil})).steps,
			want: []Event{rxStart('3', 1000, 800), rxEnd('3', 1000, 800, EndBit)},
		},
		{
			name: "malformed RED payloads are errors and change nothing",
			steps: func() []rxStep {
				s := rxREDStream(twoKeys(), 2)
				many := make([]rxBlock, maxRedBlocks+1)
				for i := range many {
					many[i] = rxBlock{pt: 0}
				}
				bads := []rxStep{
					bad(nil, ErrBadRedundancy),                                            // no final header
					bad([]byte{0x80 | rxPT, 0, 0}, ErrBadRedundancy),                      // truncated header
					bad([]byte{0x80 | rxPT, 0, 0, 4}, ErrBadRedundancy),                   // no final header after it
					bad([]byte{0x80 | rxPT, 0, 0, 8, rxPT, 1, 2, 3, 4}, ErrBadRedundancy), // block past the end
					bad(rxRED(rxPT, []byte{1, 2, 3}), ErrShortPayload),                    // primary of 3 bytes
					bad(rxRED(0, nil, rxBlock{pt: rxPT, data: make([]byte, 6)}), ErrShortPayload),
					bad(rxRED(rxPT, rxEv('9', true, 10, 100), many...), ErrBadRedundancy),
				}
				out := append([]rxStep{}, s[:3]...)
				out = append(out, bads...)
				return append(out, s[3:]...)
			}(),
			want: want,
			stats: func(s Stats) error {
				if s.Malformed != 7 {
					return errors.New("want 7 malformed")
				}
				return nil
			},
		},
	})
}

// TestReceiverErrorsChangeNothing checks that a malformed packet leaves the
// receiver exactly as it was, mid-key, apart from the Malformed counter.
func TestReceiverErrorsChangeNothing(t *testing.T) {
	r, err := NewReceiver(ReceiverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	steps := (&rxStream{ssrc: 1, seq: 10}).press('1', 1000, rxRamp(160, 160, 4), 800, 3).
		press('2', 3000, rxRamp(160, 160, 2), 0, 0).steps
	rxRun(t, r, steps)
	bads := []struct {
		red bool
		pl  []byte
	}{
		{false, nil},
		{false, []byte{1, 2, 3, 4, 5}},
		{true, nil},
		{true, []byte{0x80, 0, 0, 4, 0}},
		{true, rxRED(rxPT, rxEv('3', true, 10, 10), rxBlock{pt: rxPT, data: []byte{1, 2}})},
	}
	for i, b := range bads {
		before := *r
		p := Packet{SSRC: 99, SequenceNumber: 1, Timestamp: 5, Marker: true, Payload: b.pl}
		now := rxBase.Add(time.Hour) // would time the key out
		var evs []Event
		if b.red {
			evs, err = r.ReceiveRED(p, rxPT, now, nil)
		} else {
			evs, err = r.Receive(p, now, nil)
		}
		if err == nil || len(evs) != 0 {
			t.Fatalf("bad packet %d: events %v, error %v", i, evs, err)
		}
		after := *r
		after.stats.Malformed--
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("bad packet %d changed the receiver:\n%+v\n%+v", i, before, after)
		}
	}
}

func TestNewReceiverConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   ReceiverConfig
		field string // in the error; "" for success
	}{
		{"zero value", ReceiverConfig{}, ""},
		{"all set", ReceiverConfig{Timeout: time.Second, MaxVolume: 63, History: time.Minute}, ""},
		{"negative timeout", ReceiverConfig{Timeout: -1}, "Timeout"},
		{"negative history", ReceiverConfig{History: -time.Second}, "History"},
		{"volume above 63", ReceiverConfig{MaxVolume: 64}, "MaxVolume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReceiver(tc.cfg)
			if tc.field == "" {
				if err != nil || r == nil {
					t.Fatalf("NewReceiver: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestEndCauseString(t *testing.T) {
	for c, want := range map[EndCause]string{
		NoCause: "none", EndBit: "end bit", NextEvent: "next event", Timeout: "timeout",
		Flush: "flush", NewSource: "new source", 42: "EndCause(42)",
	} {
		if got := c.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", c, got, want)
		}
	}
}

func TestReceiverDeadlineAndReset(t *testing.T) {
	r, err := NewReceiver(ReceiverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Deadline(); ok {
		t.Fatal("deadline with no key down")
	}
	p := Packet{SSRC: 1, Timestamp: 1000, Payload: rxEv('5', false, 10, 160)}
	evs, err := r.Receive(p, rxBase, nil)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Receive: %v %v", evs, err)
	}
	if d, ok := r.Deadline(); !ok || !d.Equal(rxBase.Add(DefaultTimeout)) {
		t.Fatalf("deadline %v %v, want %v", d, ok, rxBase.Add(DefaultTimeout))
	}
	r.Reset()
	if _, ok := r.Deadline(); ok || r.Stats() != (Stats{}) {
		t.Fatalf("after Reset: key down or stats %+v", r.Stats())
	}
	// The same key is new again, and Flush has nothing to end.
	if evs := r.Flush(nil); len(evs) != 0 {
		t.Fatalf("Flush after Reset: %v", evs)
	}
	evs, err = r.Receive(p, rxBase, nil)
	if err != nil || !reflect.DeepEqual(evs, []Event{rxStart('5', 1000, 160)}) {
		t.Fatalf("after Reset: %v %v", evs, err)
	}
}

func TestReceiverAllocs(t *testing.T) {
	r, err := NewReceiver(ReceiverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	steps := rxREDStream((&rxStream{ssrc: 1}).press('1', 1000, rxRamp(160, 160, 4), 800, 3).steps, 2)
	dst := make([]Event, 0, 8)
	other := Packet{SSRC: 1, Timestamp: 7, Payload: rxEv('1', false, 10, 1)}
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		s := steps[i%len(steps)]
		s.p.Timestamp += uint32(i/len(steps)) * 2000
		now := rxBase.Add(time.Duration(i) * 20 * time.Millisecond)
		dst, _ = r.ReceiveRED(s.p, rxPT, now, dst[:0])
		dst, _ = r.Receive(other, now, dst[:0])
		dst, _ = r.Receive(Packet{}, now, dst[:0])
		dst = r.Expire(now, dst[:0])
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet, want 0", allocs)
	}
}

// txAll drains a sender.
func txAll(t *testing.T, s *Sender) []Packet {
	t.Helper()
	var out []Packet
	for {
		p, ok := s.Next()
		if !ok {
			return out
		}
		p.Payload = append([]byte(nil), p.Payload...)
		out = append(out, p)
		if len(out) > 100000 {
			t.Fatal("sender does not stop")
		}
	}
}

func TestSenderPackets(t *testing.T) {
	s, err := NewSender(SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Next(); ok {
		t.Fatal("packet before Start")
	}
	if err := s.Start('#', 100*time.Millisecond, 4000); err != nil {
		t.Fatal(err)
	}
	want := []Packet{
		{Timestamp: 4000, Marker: true, Payload: rxEv('#', false, 10, 160)},
		{Timestamp: 4000, Payload: rxEv('#', false, 10, 320)},
		{Timestamp: 4000, Payload: rxEv('#', false, 10, 480)},
		{Timestamp: 4000, Payload: rxEv('#', false, 10, 640)},
		{Timestamp: 4000, Payload: rxEv('#', true, 10, 800)},
		{Timestamp: 4000, Payload: rxEv('#', true, 10, 800)},
		{Timestamp: 4000, Payload: rxEv('#', true, 10, 800)},
	}
	if got := txAll(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("packets:\n%v\nwant:\n%v", got, want)
	}
	// Not a whole number of intervals, another volume, interval and clock.
	s, err = NewSender(SenderConfig{Interval: 30 * time.Millisecond, Volume: 20, ClockRate: 16000})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start('a'-32, 70*time.Millisecond, 0xFFFFFFF0); err != nil {
		t.Fatal(err)
	}
	want = []Packet{
		{Timestamp: 0xFFFFFFF0, Marker: true, Payload: rxEv('A', false, 20, 480)},
		{Timestamp: 0xFFFFFFF0, Payload: rxEv('A', false, 20, 960)},
		{Timestamp: 0xFFFFFFF0, Payload: rxEv('A', true, 20, 1120)},
		{Timestamp: 0xFFFFFFF0, Payload: rxEv('A', true, 20, 1120)},
		{Timestamp: 0xFFFFFFF0, Payload: rxEv('A', true, 20, 1120)},
	}
	if got := txAll(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("packets:\n%v\nwant:\n%v", got, want)
	}
	// Shorter than one interval: the first packet is the end.
	if err := s.Start('0', time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	got := txAll(t, s)
	if len(got) != 3 || !got[0].Marker || !reflect.DeepEqual(got[0].Payload, rxEv('0', true, 20, 16)) {
		t.Fatalf("packets: %v", got)
	}
}

func TestSenderLongEvents(t *testing.T) {
	for _, tc := range []struct {
		name     string
		duration time.Duration
		segments []uint32 // final duration of each segment
	}{
		{"10 s: two segments", 10 * time.Second, []uint32{0xFFFF, 80000 - 0xFFFF}},
		{"exactly 0xFFFF ticks: one segment ending at 0xFFFF", 0xFFFF * time.Second / 8000, []uint32{0xFFFF}},
		{"2 x 0xFFFF ticks", 2 * 0xFFFF * time.Second / 8000, []uint32{0xFFFF, 0xFFFF}},
		{"20 s: three segments", 20 * time.Second, []uint32{0xFFFF, 0xFFFF, 160000 - 2*0xFFFF}},
		{"10 s at 255 ticks per packet: an update falls on 0xFFFF", 10 * time.Second, []uint32{0xFFFF, 80000 - 0xFFFF}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := SenderConfig{}
			if strings.Contains(tc.name, "255 ticks") {
				cfg.Interval = 255 * time.Second / 8000
			}
			s, err := NewSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const ts0 = 0xFFFF8000 // crosses timestamp wraparound
			if err := s.Start('9', tc.duration, ts0); err != nil {
				t.Fatal(err)
			}
			pkts := txAll(t, s)
			seg, prev := 0, uint16(0)
			for i, p := range pkts {
				e := decodeReport(p.Payload)
				if p.Marker != (i == 0) {
					t.Fatalf("packet %d: marker %v", i, p.Marker)
				}
				if want := uint32(ts0 + seg*0xFFFF); p.Timestamp != want {
					t.Fatalf("packet %d: timestamp %#x, want %#x (segment %d)", i, p.Timestamp, want, seg)
				}
				last := i >= len(pkts)-3
				if e.end != last || e.code != 9 || e.volume != 10 {
					t.Fatalf("packet %d: %+v", i, e)
				}
				if e.dur < prev || (!last && e.dur == prev) {
					t.Fatalf("packet %d: duration %d after %d", i, e.dur, prev)
				}
				prev = e.dur
				if !e.end && e.dur == 0xFFFF {
					if uint32(e.dur) != tc.segments[seg] {
						t.Fatalf("segment %d closed at %d", seg, e.dur)
					}
					seg++
					prev = 0
				}
			}
			if seg != len(tc.segments)-1 || uint32(prev) != tc.segments[seg] {
				t.Fatalf("ended in segment %d at %d, want %v", seg, prev, tc.segments)
			}
		})
	}
}

func TestSenderErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   SenderConfig
		field string
	}{
		{"negative interval", SenderConfig{Interval: -time.Millisecond}, "Interval"},
		{"interval under one tick", SenderConfig{Interval: time.Microsecond}, "Interval"},
		{"interval of 0xFFFF ticks", SenderConfig{Interval: 0xFFFF * time.Second / 8000}, "Interval"},
		{"volume 64", SenderConfig{Volume: 64}, "Volume"},
		{"negative clock", SenderConfig{ClockRate: -8000}, "ClockRate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSender(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	s, err := NewSender(SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start('x', time.Second, 0); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad key: %v", err)
	}
	if err := s.Start('1', 0, 0); err == nil {
		t.Error("zero duration accepted")
	}
	if err := s.Start('1', 100*time.Microsecond, 0); err == nil {
		t.Error("duration under one tick accepted")
	}
	if err := s.Start('1', 40*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	// Busy until the last end copy is out.
	for i := 0; i < 4; i++ {
		if err := s.Start('2', time.Second, 0); !errors.Is(err, ErrBusy) {
			t.Fatalf("Start while sending packet %d: %v", i, err)
		}
		if _, ok := s.Next(); !ok {
			t.Fatalf("packet %d missing", i)
		}
	}
	if err := s.Start('2', time.Second, 0); err != nil {
		t.Fatalf("Start after the last end copy: %v", err)
	}
}

// txPlan is a sender's output over time, ready for impairment.
type txPlan struct {
	at  time.Duration
	p   Packet
	key int // index of the key sent
}

// txSend sends keys with the Sender as a media loop would: one packet every
// 20 ms, a gap of `gap` between keys, the RTP timestamp following the clock.
func txSend(t *testing.T, keys string, dur, gap time.Duration) []txPlan {
	t.Helper()
	s, err := NewSender(SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var plan []txPlan
	at, seq := time.Duration(0), uint16(0xFFF0)
	for k := 0; k < len(keys); k++ {
		if err := s.Start(keys[k], dur, 1000+uint32(at/time.Millisecond)*8); err != nil {
			t.Fatal(err)
		}
		for {
			p, ok := s.Next()
			if !ok {
				break
			}
			p.SSRC, p.SequenceNumber = 0x5E4D, seq
			p.Payload = append([]byte(nil), p.Payload...)
			plan = append(plan, txPlan{at: at, p: p, key: k})
			seq++
			at += 20 * time.Millisecond
		}
		at += gap
	}
	return plan
}

// TestRoundTrip feeds the sender's output into the receiver, clean and with
// packets dropped, duplicated and reordered.
func TestRoundTrip(t *testing.T) {
	const keys = "0123456789*#ABCD"
	t.Run("clean", func(t *testing.T) {
		r, _ := NewReceiver(ReceiverConfig{})
		var got []Event
		for _, pl := range txSend(t, keys, 100*time.Millisecond, 60*time.Millisecond) {
			var err error
			if got, err = r.Receive(pl.p, rxBase.Add(pl.at), got); err != nil {
				t.Fatal(err)
			}
		}
		got = r.Flush(got)
		var want []Event
		for k := 0; k < len(keys); k++ {
			ts := 1000 + uint32(k)*(7*160+480)
			want = append(want, rxStart(keys[k], ts, 160), rxEnd(keys[k], ts, 800, EndBit))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("events:\n%swant:\n%s", rxFormat(got), rxFormat(want))
		}
	})
	t.Run("long key", func(t *testing.T) {
		r, _ := NewReceiver(ReceiverConfig{})
		var got []Event
		for _, pl := range txSend(t, "5", 12*time.Second, 0) {
			got, _ = r.Receive(pl.p, rxBase.Add(pl.at), got)
		}
		want := []Event{rxStart('5', 1000, 160), rxEnd('5', 1000, 96000, EndBit)}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("events:\n%swant:\n%s", rxFormat(got), rxFormat(want))
		}
	})
	for _, red := range []bool{false, true} {
		name := "impaired"
		if red {
			name += " with RED"
		}
		t.Run(name, func(t *testing.T) {
			for seed := uint64(0); seed < 300; seed++ {
				txImpaired(t, seed, keys, red)
			}
		})
	}
}

// txImpaired sends keys through a lossy, duplicating, reordering network
// and checks the events: the promises of rxChecker, each key heard once and
// in order (a key whose reports all arrive after a later key's are lost, as
// RFC 4733 says), and a full duration on every end by the E bit.
func txImpaired(t *testing.T, seed uint64, keys string, red bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 4733))
	dur := time.Duration(60+rng.IntN(200)) * time.Millisecond
	plan := txSend(t, keys, dur, time.Duration(rng.IntN(120))*time.Millisecond)
	total := uint32(dur / time.Millisecond * 8)
	if red {
		steps := make([]rxStep, len(plan))
		for i, pl := range plan {
			steps[i] = rxStep{at: pl.at, p: pl.p}
		}
		for i, s := range rxREDStream(steps, 2) {
			plan[i].p = s.p
		}
	}
	var net []int // indexes into plan, in arrival order
	for i := range plan {
		switch x := rng.IntN(100); {
		case x < 20: // lost
		case x < 30: // duplicated
			net = append(net, i, i)
		default:
			net = append(net, i)
		}
	}
	for i := 0; i+1 < len(net); i++ {
		if rng.IntN(100) < 15 {
			net[i], net[i+1] = net[i+1], net[i]
		}
	}
	r, _ := NewReceiver(ReceiverConfig{})
	var got []Event
	var last time.Duration
	newest := -1
	var want []byte
	for _, i := range net {
		at := plan[i].at
		if at < last {
			at = last // a reordered packet arrives late
		}
		last = at
		var err error
		if red {
			got, err = r.ReceiveRED(plan[i].p, rxPT, rxBase.Add(at), got)
		} else {
			got, err = r.Receive(plan[i].p, rxBase.Add(at), got)
		}
		if err != nil {
			t.Fatal(err)
		}
		// The keys whose reports arrived, oldest first.
		from := i
		if red {
			from = max(0, i-2)
		}
		for j := from; j <= i; j++ {
			if k := plan[j].key; k > newest {
				newest = k
				want = append(want, keys[k])
			}
		}
	}
	got = r.Flush(got)
	var c rxChecker
	if err := c.check(got); err != nil {
		t.Fatalf("seed %d: %v\n%s", seed, err, rxFormat(got))
	}
	var starts []byte
	for _, e := range got {
		if !e.End {
			starts = append(starts, e.Key)
			continue
		}
		if e.Duration > total || e.Cause == EndBit && e.Duration != total {
			t.Fatalf("seed %d: %v, want a duration of %d", seed, e, total)
		}
	}
	if string(starts) != string(want) {
		t.Fatalf("seed %d: keys %q, want %q\n%s", seed, starts, want, rxFormat(got))
	}
}

// Fuzz input records, each:
//
//	flags(1) seqDelta(1, int8) tsDelta(2, int16) advance(1) length(1) payload(length)
//
// flags: 0x01 marker, 0x02 switch SSRC, 0x04 RFC 2198 (ReceiveRED),
// 0x08 call Expire first, 0x10 call Flush first, 0x20 timestamp += 0xFFFF
// instead of tsDelta, 0xC0 the unit of advance (1 ms, 10 ms, 100 ms, 1 s).
const (
	fzMarker = 1 << iota
	fzSSRC
	fzRED
	fzExpire
	fzFlush
	fzSegment
)

// fzRecord encodes one fuzz input record.
func fzRecord(flags uint8, seqDelta int8, tsDelta int16, advance uint8, payload []byte) []byte {
	b := []byte{flags, byte(seqDelta), byte(uint16(tsDelta) >> 8), byte(tsDelta), advance, byte(len(payload))}
	return append(b, payload...)
}

// fzSeeds are hand-made fuzz inputs: a clean key, a long event, RED, packed
// events, a restart at one timestamp, malformed payloads.
func fzSeeds() [][]byte {
	var seeds [][]byte
	var b []byte
	for i, d := range []uint16{160, 320, 480, 640} {
		b = append(b, fzRecord(fzBit(i == 0, fzMarker), 1, 0, 20, rxEv('5', false, 10, d))...)
	}
	for i := 0; i < 3; i++ {
		b = append(b, fzRecord(0, 1, 0, 20, rxEv('5', true, 10, 800))...)
	}
	b = append(b, fzRecord(fzMarker, 1, 2000, 60, rxEv('6', false, 10, 160))...)
	b = append(b, fzRecord(0x40|fzExpire, 0, 0, 30, nil)...)
	seeds = append(seeds, b)

	seeds = append(seeds, rxCat(
		fzRecord(fzMarker, 1, 0, 20, rxEv('0', false, 10, 0xFF00)),
		fzRecord(0, 1, 0, 20, rxEv('0', false, 10, 0xFFFF)),
		fzRecord(fzSegment, 1, 0, 20, rxEv('0', false, 10, 160)),
		fzRecord(0, 1, 0, 20, rxEv('0', true, 10, 320)),
	))
	seeds = append(seeds, rxCat(
		fzRecord(fzRED|fzMarker, 1, 0, 20, rxRED(rxPT, rxEv('1', false, 10, 160))),
		fzRecord(fzRED, 1, 0, 20, rxRED(rxPT, rxEv('1', true, 10, 320), rxBlock{pt: rxPT, data: rxEv('1', false, 10, 160)})),
		fzRecord(fzRED, 1, 1000, 20, rxRED(rxPT, rxEv('2', false, 10, 160), rxBlock{pt: rxPT, offset: 1000, data: rxEv('1', true, 10, 320)})),
		fzRecord(fzRED, 1, 0, 20, []byte{0x80 | rxPT, 0, 0, 9, rxPT}),
	))
	seeds = append(seeds, rxCat(
		fzRecord(fzMarker, 1, 0, 20, rxCat(rxEv('1', true, 10, 800), rxEv('2', false, 10, 400))),
		fzRecord(0, 1, 0, 20, rxCat(rxEv('1', true, 10, 800), rxEv('2', true, 10, 800))),
		fzRecord(fzMarker, 1, 0, 20, rxEv('2', false, 10, 160)),
		fzRecord(fzSSRC, 1, 0, 20, rxEv('2', false, 10, 160)),
		fzRecord(0, -3, 0, 20, rxEv('2', true, 10, 480)),
		fzRecord(fzFlush, 1, 0, 0, []byte{1, 2, 3}),
		fzRecord(0xC0, 1, -100, 3, rxCode(16, false, 60, 160)),
	))
	return seeds
}

func fzBit(b bool, bit uint8) uint8 {
	if b {
		return bit
	}
	return 0
}

// FuzzReceiver decodes its input as a sequence of packets fed with advancing
// time and checks that the receiver never panics, keeps its promises on the
// events (rxChecker), and changes nothing on an error.
func FuzzReceiver(f *testing.F) {
	for _, s := range fzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReceiver(ReceiverConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var c rxChecker
		var evs []Event
		now := rxBase
		ssrc, seq, ts := uint32(1), uint16(0xFFF0), uint32(0xFFFFF000)
		for len(data) >= 6 {
			flags, n := data[0], int(data[5])
			seq += uint16(int8(data[1]))
			if flags&fzSegment != 0 {
				ts += 0xFFFF
			} else {
				ts += uint32(int16(binary.BigEndian.Uint16(data[2:4])))
			}
			now = now.Add(time.Duration(data[4]) * [4]time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second}[flags>>6])
			if flags&fzSSRC != 0 {
				ssrc ^= 3
			}
			data = data[6:]
			payload := data[:min(n, len(data))]
			data = data[len(payload):]

			from := len(evs)
			if flags&fzFlush != 0 {
				evs = r.Flush(evs)
			}
			if flags&fzExpire != 0 {
				evs = r.Expire(now, evs)
			}
			before, mark := *r, len(evs)
			p := Packet{SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, Marker: flags&fzMarker != 0, Payload: payload}
			if flags&fzRED != 0 {
				evs, err = r.ReceiveRED(p, rxPT, now, evs)
			} else {
				evs, err = r.Receive(p, now, evs)
			}
			if err != nil {
				if !errors.Is(err, ErrShortPayload) && !errors.Is(err, ErrBadRedundancy) {
					t.Fatalf("unexpected error %v", err)
				}
				after := *r
				after.stats.Malformed--
				if len(evs) != mark || !reflect.DeepEqual(before, after) {
					t.Fatalf("error %v changed the receiver or reported %v", err, evs[mark:])
				}
			}
			if err := c.check(evs[from:]); err != nil {
				t.Fatalf("%v\nevents:\n%s", err, rxFormat(evs))
			}
			if _, down := r.Deadline(); down != c.open {
				t.Fatalf("deadline says down=%v, events say %v", down, c.open)
			}
		}
		if err := c.check(r.Flush(evs[len(evs):])); err != nil || c.open {
			t.Fatalf("after Flush: %v, still down %v", err, c.open)
		}
	})
}

// BenchmarkReceiver feeds a realistic stream (16 keys of 100 ms, 20 ms
// updates, 3 end copies, as Asterisk or baresip send) one packet per
// iteration: ns/op is ns per packet.
func BenchmarkReceiver(b *testing.B) {
	benchReceiver(b, false)
}

// BenchmarkReceiveRED is BenchmarkReceiver with two levels of RFC 2198
// redundancy in every packet.
func BenchmarkReceiveRED(b *testing.B) {
	benchReceiver(b, true)
}

func benchReceiver(b *testing.B, red bool) {
	s, err := NewSender(SenderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var steps []rxStep
	at, seq := time.Duration(0), uint16(0)
	for k := 0; k < len(Keys); k++ {
		if err := s.Start(Keys[k], 100*time.Millisecond, uint32(at/time.Millisecond)*8); err != nil {
			b.Fatal(err)
		}
		for p, ok := s.Next(); ok; p, ok = s.Next() {
			p.SSRC, p.SequenceNumber = 1, seq
			p.Payload = append([]byte(nil), p.Payload...)
			steps = append(steps, rxStep{at: at, p: p})
			seq++
			at += 20 * time.Millisecond
		}
		at += 60 * time.Millisecond
	}
	if red {
		steps = rxREDStream(steps, 2)
	}
	span, spanTS := at, uint32(at/time.Millisecond)*8
	r, err := NewReceiver(ReceiverConfig{})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]Event, 0, 16)
	keys := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		st := steps[i%len(steps)]
		pass := i / len(steps)
		st.p.Timestamp += uint32(pass) * spanTS
		st.p.SequenceNumber += uint16(pass * len(steps))
		now := rxBase.Add(st.at + time.Duration(pass)*span)
		if red {
			dst, err = r.ReceiveRED(st.p, rxPT, now, dst[:0])
		} else {
			dst, err = r.Receive(st.p, now, dst[:0])
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range dst {
			if !e.End {
				keys++
			}
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/packet")
	if want := (i + len(steps) - 1) / len(steps) * len(Keys); i >= len(steps) && keys < want-len(Keys) {
		b.Fatalf("%d keys heard in %d packets, want about %d", keys, i, want)
	}
}

// BenchmarkSender measures one packet.
func BenchmarkSender(b *testing.B) {
	s, err := NewSender(SenderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Next(); !ok {
			if err := s.Start('1', time.Second, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
}
