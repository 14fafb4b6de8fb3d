package dtmf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Errors returned for malformed RTP event payloads. A packet that returns
// one of them changes no receiver state (only Stats.Malformed counts it).
var (
	// ErrShortPayload is returned for an RFC 4733 payload (or an event
	// block inside RFC 2198 redundancy) whose length is zero or not a
	// multiple of 4 bytes.
	ErrShortPayload = errors.New("dtmf: short payload")
	// ErrBadRedundancy is returned for an RFC 2198 payload whose block
	// headers are truncated or too many, or whose block lengths run past
	// the end of the payload.
	ErrBadRedundancy = errors.New("dtmf: bad redundancy")
	// ErrBusy is returned by Sender.Start while a key is still being sent.
	ErrBusy = errors.New("dtmf: sender busy")
)

// Receiver defaults and limits.
const (
	// DefaultTimeout is the floor of the adaptive timeout: 3 update
	// intervals at the 50 ms RFC 4733 recommends when no audio flows
	// (§2.5.1.2), which also covers 20-30 ms audio intervals with room for
	// jitter and a lost update or two.
	DefaultTimeout = 150 * time.Millisecond
	// MaxAdaptiveTimeout caps the adaptive timeout.
	MaxAdaptiveTimeout = time.Second
	// DefaultMaxVolume is the default ReceiverConfig.MaxVolume: RFC 2833
	// requires rejecting DTMF below -55 dBm0.
	DefaultMaxVolume = 55
	// DefaultHistory is the default ReceiverConfig.History.
	DefaultHistory = 2 * time.Second
)

const (
	// segmentMax is the duration at which RFC 4733 §2.5.1.3 splits long
	// events: the next segment starts at timestamp+0xFFFF.
	segmentMax = 0xFFFF
	// segmentRED is the longest segment a sender using RFC 2198 can carry
	// (the redundancy timestamp offset has 14 bits), so a segment that
	// reached it and is followed exactly at timestamp+duration by the same
	// event is a continuation too.
	segmentRED = 0x3FFF
	// ringSize is how many finished keys the receiver remembers.
	ringSize = 8
	// maxVolumeField is the largest value of the 6-bit volume field.
	maxVolumeField = 63
)

// Packet is what the receiver needs of one RTP packet, and what the sender
// produces. The media code parses and writes RTP; this package does no I/O.
type Packet struct {
	// SSRC identifies the RTP stream. A change starts a new stream.
	SSRC uint32
	// SequenceNumber is the RTP sequence number.
	SequenceNumber uint16
	// Timestamp is the RTP timestamp: the start of the (first) event.
	Timestamp uint32
	// Marker is the RTP marker bit. The receiver never requires it.
	Marker bool
	// Payload is one or more 4-byte RFC 4733 events (§2.5.1.5 packs
	// several, each starting where the previous one's duration ends), or
	// an RFC 2198 payload for ReceiveRED.
	Payload []byte
}

// EndCause says why a key ended.
type EndCause uint8

// The causes of an end event. A start event has NoCause.
const (
	// NoCause is the cause of a start event.
	NoCause EndCause = iota
	// EndBit: a packet with the E bit arrived.
	EndBit
	// NextEvent: a packet of another key (or a new press of the same key)
	// arrived first; the end packets were lost or never sent.
	NextEvent
	// Timeout: no packet for the key arrived for the timeout.
	Timeout
	// Flush: the caller ended the stream (end of call).
	Flush
	// NewSource: a packet with another SSRC arrived (a new stream).
	NewSource
)

var causeNames = [...]string{"none", "end bit", "next event", "timeout", "flush", "new source"}

// String returns a short lower-case name of the cause.
func (c EndCause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("EndCause(%d)", uint8(c))
}

// Event is a key going down (start) or coming up (end).
type Event struct {
	// Key is the key, one of Keys.
	Key byte
	// End is false when the key went down (reported at the first packet
	// seen of a new key, whatever its marker bit or duration) and true
	// when it came up.
	End bool
	// Timestamp is the RTP timestamp of the event: of its first segment
	// seen, for long events split into segments.
	Timestamp uint32
	// Duration is in timestamp units: the total, for an end; so far, for
	// a start.
	Duration uint32
	// Volume is the power in -dBm0 (0-63) of the packet reported; the R
	// bit is ignored.
	Volume uint8
	// Cause is why the key ended; NoCause for a start.
	Cause EndCause
}

// String formats the event for logs and test failures.
func (e Event) String() string {
	if !e.End {
		return fmt.Sprintf("start %c ts=%d dur=%d vol=%d", e.Key, e.Timestamp, e.Duration, e.Volume)
	}
	return fmt.Sprintf("end %c ts=%d dur=%d vol=%d (%v)", e.Key, e.Timestamp, e.Duration, e.Volume, e.Cause)
}

// ReceiverConfig tunes a Receiver. The zero value follows RFC 4733.
type ReceiverConfig struct {
	// Timeout ends a key when no packet for it arrived for this long (its
	// end packets were all lost). Zero means adaptive: three times the
	// largest gap seen between packets of the key (of the previous key
	// until the second packet arrives), at least DefaultTimeout (150 ms)
	// and at most MaxAdaptiveTimeout (1 s), per RFC 4733 §2.5.2.2 ("SHOULD
	// NOT be extended by more than three packet interarrival times").
	// Negative is an error.
	Timeout time.Duration
	// MaxVolume: keys quieter than this (volume field above it, in -dBm0)
	// are ignored. Zero means DefaultMaxVolume (55: RFC 2833 rejects DTMF
	// below -55 dBm0); 63 accepts every volume. Above 63 is an error. Only
	// the packet that would start a key is judged; later packets of a key
	// are accepted whatever their volume.
	MaxVolume uint8
	// History is how long, after the last packet accepted, the receiver
	// remembers finished keys to ignore their late and repeated packets.
	// After that much silence it forgets them, so that a sender that
	// restarts its timestamps (or replays a capture) is heard again. Zero
	// means DefaultHistory (2 s). Negative is an error.
	History time.Duration
}

// Stats counts what a Receiver saw since NewReceiver or Reset. The media
// layer can watch Keys to guard against floods.
type Stats struct {
	// Packets counts packets accepted without error.
	Packets uint64
	// Reports counts 4-byte event reports examined.
	Reports uint64
	// Keys counts keys started.
	Keys uint64
	// Stale counts reports ignored because they belong to a finished or
	// older key: repeated end packets, duplicates, late reordered packets.
	Stale uint64
	// Quiet counts reports ignored for their volume.
	Quiet uint64
	// NotKeys counts reports ignored because their event code is not a
	// DTMF key (16 and above: flash, RFC 4734 tones).
	NotKeys uint64
	// Malformed counts packets rejected with an error.
	Malformed uint64
}

// Receiver turns RFC 4733 telephone-event packets into key starts and ends.
//
// A key is identified by (SSRC, timestamp, event code). The first packet
// seen of a new key reports its start at once, whatever its marker bit or
// duration, and ends the previous key if that one had not ended. A key ends
// on a packet with the E bit, on the next key, on a timeout (Expire), on an
// SSRC change or on Flush. Each key yields exactly one start and one end:
// repeated end packets, duplicates and late packets of finished or older
// keys are ignored (a small ring of finished keys, and timestamps and
// sequence numbers compared with wraparound). Long events split into
// segments (RFC 4733 §2.5.1.3) are joined into one key.
//
// One exception to "one start per key": some senders (diago) do not advance
// the timestamp between back-to-back events, so two presses of the same key
// share one timestamp. A packet of the newest key that has the marker bit,
// no E bit, a newer sequence number and a shorter duration than already
// seen is taken as a new press.
//
// A Receiver is not safe for concurrent use. Its methods do not allocate
// (appending to dst allocates only when dst is full).
type Receiver struct {
	timeout   time.Duration // fixed, or 0 for adaptive
	maxVolume uint8
	history   time.Duration

	ssrc     uint32
	haveSSRC bool

	active bool     // a key is down
	cur    keyState // the key down, if active

	// The newest key (active or finished): newer reports only start keys.
	haveNewest bool
	newestTS   uint32 // timestamp of its current segment
	newestSeq  uint16 // sequence number of its first packet seen
	lastAccept time.Time

	ring     [ringSize]finishedKey
	ringNext int

	prevGap time.Duration // largest interarrival of the previous key
	stats   Stats
}

// keyState is the key in progress.
type keyState struct {
	code     uint8
	key      byte
	firstTS  uint32 // timestamp of the first segment seen
	segTS    uint32 // timestamp of the current segment
	segDur   uint16 // longest duration seen in the current segment
	base     uint32 // total duration of the previous segments
	volume   uint8
	firstSeq uint16 // sequence number of the first packet seen
	seq      uint16 // newest sequence number seen
	lastSeen time.Time
	gap      time.Duration // largest interarrival seen
}

// finishedKey is a key that ended, remembered to ignore its late packets.
type finishedKey struct {
	valid bool
	ts    uint32 // timestamp of its last segment
	code  uint8
	seq   uint16 // newest sequence number seen
	dur   uint16 // longest duration seen in its last segment
}

// report is one decoded 4-byte RFC 4733 event.
type report struct {
	code   uint8
	end    bool
	volume uint8
	dur    uint16
}

func decodeReport(b []byte) report {
	return report{
		code:   b[0],
		end:    b[1]&0x80 != 0,
		volume: b[1] & 0x3F,
		dur:    binary.BigEndian.Uint16(b[2:4]),
	}
}

// NewReceiver returns a receiver, or an error naming the bad field.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("dtmf: ReceiverConfig.Timeout %v is negative", cfg.Timeout)
	}
	if cfg.History < 0 {
		return nil, fmt.Errorf("dtmf: ReceiverConfig.History %v is negative", cfg.History)
	}
	if cfg.MaxVolume > maxVolumeField {
		return nil, fmt.Errorf("dtmf: ReceiverConfig.MaxVolume %d is above %d", cfg.MaxVolume, maxVolumeField)
	}
	r := &Receiver{timeout: cfg.Timeout, maxVolume: cfg.MaxVolume, history: cfg.History}
	if r.maxVolume == 0 {
		r.maxVolume = DefaultMaxVolume
	}
	if r.history == 0 {
		r.history = DefaultHistory
	}
	return r, nil
}

// Receive feeds one telephone-event packet received at now and appends the
// events it causes to dst: possibly the end of a timed-out key, an end and a
// start per report. A payload whose length is zero or not a multiple of 4
// returns ErrShortPayload and changes nothing. Reports that are not keys,
// too quiet, or stale are ignored (see Stats), not errors.
func (r *Receiver) Receive(p Packet, now time.Time, dst []Event) ([]Event, error) {
	if len(p.Payload) == 0 || len(p.Payload)%4 != 0 {
		r.stats.Malformed++
		return dst, ErrShortPayload
	}
	dst = r.begin(p.SSRC, now, dst)
	dst = r.feed(p.Payload, p.Timestamp, p.SequenceNumber, p.Marker, now, dst)
	return dst, nil
}

// Expire ends the key in progress if no packet for it arrived for the
// timeout, and appends that end to dst. The media loop calls it on its
// timer (see Deadline); Receive does the same check first.
func (r *Receiver) Expire(now time.Time, dst []Event) []Event {
	if r.active && !now.Before(r.cur.lastSeen.Add(r.currentTimeout())) {
		dst = r.end(Timeout, dst)
	}
	return dst
}

// Deadline returns when the key in progress times out if no packet for it
// arrives; ok is false when no key is down.
func (r *Receiver) Deadline() (t time.Time, ok bool) {
	if !r.active {
		return time.Time{}, false
	}
	return r.cur.lastSeen.Add(r.currentTimeout()), true
}

// Flush ends the key in progress, if any (end of call), and appends that
// end to dst. The history of finished keys is kept.
func (r *Receiver) Flush(dst []Event) []Event {
	if r.active {
		dst = r.end(Flush, dst)
	}
	return dst
}

// Reset returns the receiver to its state after NewReceiver, statistics
// included, without reporting the key in progress.
func (r *Receiver) Reset() {
	*r = Receiver{timeout: r.timeout, maxVolume: r.maxVolume, history: r.history}
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats { return r.stats }

// begin does what every valid packet does before its reports: time out the
// key in progress, follow an SSRC change, forget a stale history.
func (r *Receiver) begin(ssrc uint32, now time.Time, dst []Event) []Event {
	r.stats.Packets++
	dst = r.Expire(now, dst)
	switch {
	case !r.haveSSRC:
		r.ssrc, r.haveSSRC = ssrc, true
	case ssrc != r.ssrc:
		if r.active {
			dst = r.end(NewSource, dst)
		}
		r.forget()
		r.prevGap = 0
		r.ssrc = ssrc
	}
	if !r.active && r.haveNewest && now.Sub(r.lastAccept) >= r.history {
		r.forget()
	}
	return dst
}

// forget drops the history of finished keys.
func (r *Receiver) forget() {
	r.ring = [ringSize]finishedKey{}
	r.ringNext = 0
	r.haveNewest = false
}

// feed processes the reports of one event payload whose length is a
// multiple of 4. The first report starts at ts; each next one where the
// previous one's duration ends (RFC 4733 §2.5.1.5).
func (r *Receiver) feed(payload []byte, ts uint32, seq uint16, marker bool, now time.Time, dst []Event) []Event {
	for i := 0; i+4 <= len(payload); i += 4 {
		e := decodeReport(payload[i : i+4])
		dst = r.report(e, ts, seq, marker && i == 0, now, dst)
		ts += uint32(e.dur)
	}
	return dst
}

// report runs the state machine on one report.
func (r *Receiver) report(e report, ts uint32, seq uint16, marker bool, now time.Time, dst []Event) []Event {
	r.stats.Reports++
	key, ok := EventKey(e.code)
	if !ok {
		r.stats.NotKeys++
		return dst
	}
	if r.active && e.code == r.cur.code {
		c := &r.cur
		switch {
		case ts == c.segTS && seqBefore(seq, c.firstSeq):
			// Sent before the first packet seen: nothing new.
			r.stats.Stale++
			return dst
		case ts == c.segTS && !newPress(e, seq, marker, c.seq, c.segDur):
			r.touch(seq, now)
			if e.dur > c.segDur {
				c.segDur = e.dur
			}
			c.volume = e.volume
			if e.end {
				dst = r.end(EndBit, dst)
			}
			return dst
		case ts != c.segTS && r.continues(ts):
			// The next segment of a long event.
			c.base = addSat(c.base, ts-c.segTS)
			c.segTS, c.segDur, c.firstSeq = ts, e.dur, seq
			c.volume = e.volume
			r.newestTS, r.newestSeq = ts, seq
			r.touch(seq, now)
			if e.end {
				dst = r.end(EndBit, dst)
			}
			return dst
		}
	}
	if !r.active || r.cur.segTS != ts || r.cur.code != e.code {
		if r.stale(e, ts, seq, marker) {
			r.stats.Stale++
			return dst
		}
	}
	if e.volume > r.maxVolume {
		r.stats.Quiet++
		return dst
	}
	if r.active {
		dst = r.end(NextEvent, dst)
	}
	r.active = true
	r.cur = keyState{
		code: e.code, key: key,
		firstTS: ts, segTS: ts, segDur: e.dur,
		volume: e.volume, firstSeq: seq, seq: seq,
		lastSeen: now,
	}
	r.haveNewest, r.newestTS, r.newestSeq = true, ts, seq
	r.lastAccept = now
	r.stats.Keys++
	dst = append(dst, Event{Key: key, Timestamp: ts, Duration: uint32(e.dur), Volume: e.volume})
	if e.end {
		dst = r.end(EndBit, dst)
	}
	return dst
}

// stale reports whether a report that is not of the key in progress belongs
// to a finished or older key.
func (r *Receiver) stale(e report, ts uint32, seq uint16, marker bool) bool {
	// The last key finished is the newest key unless one is down; a new
	// press of it is the only way back to a finished key.
	last := &r.ring[(r.ringNext+ringSize-1)%ringSize]
	if last.valid && last.ts == ts && last.code == e.code {
		return r.active || !newPress(e, seq, marker, last.seq, last.dur)
	}
	for i := range r.ring {
		if f := &r.ring[i]; f.valid && f.ts == ts && f.code == e.code {
			return true
		}
	}
	if !r.haveNewest {
		return false
	}
	d := int32(ts - r.newestTS)
	return d < 0 || d == 0 && seqBefore(seq, r.newestSeq)
}

// newPress reports whether a report of a key already seen (newest sequence
// number seq0, longest duration dur0) is in fact a new press of the same key
// at the same timestamp: marker, no E, sent later, restarted duration.
func newPress(e report, seq uint16, marker bool, seq0, dur0 uint16) bool {
	return marker && !e.end && seqBefore(seq0, seq) && e.dur < dur0
}

// continues reports whether a report of the key in progress at timestamp ts
// is the next segment of a long event.
func (r *Receiver) continues(ts uint32) bool {
	c := &r.cur
	return ts == c.segTS+segmentMax || c.segDur >= segmentRED && ts == c.segTS+uint32(c.segDur)
}

// touch records an accepted packet of the key in progress.
func (r *Receiver) touch(seq uint16, now time.Time) {
	c := &r.cur
	if seqBefore(c.seq, seq) {
		c.seq = seq
	}
	if g := now.Sub(c.lastSeen); g > c.gap {
		c.gap = g
	}
	c.lastSeen = now
	r.lastAccept = now
}

// end reports the end of the key in progress and remembers it.
func (r *Receiver) end(cause EndCause, dst []Event) []Event {
	c := &r.cur
	dst = append(dst, Event{
		Key: c.key, End: true, Timestamp: c.firstTS,
		Duration: addSat(c.base, uint32(c.segDur)), Volume: c.volume, Cause: cause,
	})
	r.ring[r.ringNext] = finishedKey{valid: true, ts: c.segTS, code: c.code, seq: c.seq, dur: c.segDur}
	r.ringNext = (r.ringNext + 1) % ringSize
	if c.gap > 0 {
		r.prevGap = c.gap
	}
	r.active = false
	return dst
}

// currentTimeout is the timeout of the key in progress.
func (r *Receiver) currentTimeout() time.Duration {
	if r.timeout > 0 {
		return r.timeout
	}
	g := r.cur.gap
	if g == 0 {
		g = r.prevGap
	}
	t := 3 * g
	if t < DefaultTimeout {
		t = DefaultTimeout
	}
	if t > MaxAdaptiveTimeout {
		t = MaxAdaptiveTimeout
	}
	return t
}

// seqBefore reports whether RTP sequence number a comes before b, with
// wraparound.
func seqBefore(a, b uint16) bool { return int16(a-b) < 0 }

// addSat returns a+b, saturating at the largest uint32.
func addSat(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint32(0)
}

// Sender defaults.
const (
	// DefaultSenderInterval is the default SenderConfig.Interval.
	DefaultSenderInterval = 20 * time.Millisecond
	// DefaultSenderVolume is the default SenderConfig.Volume (-10 dBm0).
	DefaultSenderVolume = 10
	// DefaultClockRate is the default SenderConfig.ClockRate, in Hz.
	DefaultClockRate = SampleRate
	// endCopies is how many times the final packet is sent (RFC 4733
	// §2.5.1.4).
	endCopies = 3
)

// SenderConfig tunes a Sender. The zero value sends an update every 20 ms
// at -10 dBm0 on an 8 kHz clock.
type SenderConfig struct {
	// Interval is the time between packets: the audio packet interval.
	// Zero means 20 ms. It must be at least one clock tick and shorter
	// than 0xFFFF ticks.
	Interval time.Duration
	// Volume is the power in -dBm0 (0-63). Zero means 10 (-10 dBm0).
	Volume uint8
	// ClockRate is the telephone-event clock rate in Hz, from the SDP
	// rtpmap. Zero means 8000.
	ClockRate int
}

// Sender produces the RFC 4733 packets of one key at a time: the marker bit
// on the first packet only, one timestamp for every packet of an event, a
// cumulative duration growing by one interval per packet (the first packet
// carries one interval), and a final packet with the E bit and the full
// duration sent 3 times. Events longer than 0xFFFF clock ticks are split
// into segments: a packet without E at duration 0xFFFF, then the next
// segment at timestamp+0xFFFF without the marker bit.
//
// The media path owns the SSRC and the sequence numbers (a new one for
// every packet, the 3 end copies included) and shares the audio timestamp
// base. A Sender is not safe for concurrent use and does not allocate.
type Sender struct {
	interval uint64 // clock ticks per packet
	volume   uint8
	clock    uint64

	active  bool   // packets remain to be sent
	code    uint8  // event code
	ts      uint32 // timestamp of the current segment
	total   uint64 // event duration in ticks
	elapsed uint64 // duration reported so far
	seg     uint64 // elapsed at the start of the current segment
	marker  bool   // the next packet is the first
	ends    int    // end copies still to send after the first
	buf     [4]byte
}

// NewSender returns a sender, or an error naming the bad field.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.ClockRate < 0 {
		return nil, fmt.Errorf("dtmf: SenderConfig.ClockRate %d is negative", cfg.ClockRate)
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("dtmf: SenderConfig.Interval %v is negative", cfg.Interval)
	}
	if cfg.Volume > maxVolumeField {
		return nil, fmt.Errorf("dtmf: SenderConfig.Volume %d is above %d", cfg.Volume, maxVolumeField)
	}
	s := &Sender{volume: cfg.Volume, clock: uint64(cfg.ClockRate)}
	if s.clock == 0 {
		s.clock = DefaultClockRate
	}
	if s.volume == 0 {
		s.volume = DefaultSenderVolume
	}
	iv := cfg.Interval
	if iv == 0 {
		iv = DefaultSenderInterval
	}
	s.interval = ticks(iv, s.clock)
	if s.interval == 0 || s.interval >= segmentMax {
		return nil, fmt.Errorf("dtmf: SenderConfig.Interval %v is not between one and 0xFFFF clock ticks", cfg.Interval)
	}
	return s, nil
}

// ticks converts d to clock ticks, rounding down, without overflow.
func ticks(d time.Duration, clock uint64) uint64 {
	return uint64(d/time.Second)*clock + uint64(d%time.Second)*clock/uint64(time.Second)
}

// Start begins sending key for duration, at RTP timestamp timestamp (the
// audio clock now). It returns ErrBusy while the previous key's packets
// are not all out, an error wrapping ErrBadKey for a character that is not
// a key, and an error for a duration shorter than one clock tick.
func (s *Sender) Start(key byte, duration time.Duration, timestamp uint32) error {
	if s.active || s.ends > 0 {
		return ErrBusy
	}
	code, ok := EventCode(key)
	if !ok {
		return fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	if duration <= 0 || ticks(duration, s.clock) == 0 {
		return fmt.Errorf("dtmf: key duration %v is shorter than one clock tick", duration)
	}
	s.active, s.code, s.ts = true, code, timestamp
	s.total, s.elapsed, s.seg = ticks(duration, s.clock), 0, 0
	s.marker = true
	return nil
}

// Next returns the next packet of the key; call it once per interval. The
// packet's Marker, Timestamp and Payload (4 bytes, valid until the next
// call) are set; SSRC and SequenceNumber are left for the caller. ok is
// false once the key is finished (and before the first Start).
func (s *Sender) Next() (p Packet, ok bool) {
	if s.ends > 0 {
		s.ends--
		return s.packet(true, s.elapsed-s.seg), true
	}
	if !s.active {
		return Packet{}, false
	}
	s.elapsed += s.interval
	if s.elapsed > s.total {
		s.elapsed = s.total
	}
	dur := s.elapsed - s.seg
	if dur > segmentMax || dur == segmentMax && s.elapsed < s.total {
		// Close this segment; the rest goes into the next one.
		p = s.packet(false, segmentMax)
		s.seg += segmentMax
		s.ts += segmentMax
		return p, true
	}
	if s.elapsed == s.total {
		s.active = false
		s.ends = endCopies - 1
		return s.packet(true, dur), true
	}
	return s.packet(false, dur), true
}

// packet builds a packet of the current segment.
func (s *Sender) packet(end bool, dur uint64) Packet {
	s.buf[0] = s.code
	s.buf[1] = s.volume
	if end {
		s.buf[1] |= 0x80
	}
	binary.BigEndian.PutUint16(s.buf[2:], uint16(dur))
	p := Packet{Timestamp: s.ts, Marker: s.marker, Payload: s.buf[:]}
	s.marker = false
	return p
}
