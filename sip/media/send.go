package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"github.com/pion/rtp"
	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

// Sending constants.
const (
	// frameDur is the packet time sent.
	frameDur = ptime * time.Millisecond
	// frameSamples is the number of 8 kHz samples (and G.711 bytes) in a
	// frame.
	frameSamples = dtmf.SampleRate * ptime / 1000
	// tickDur is one tick of the 8 kHz RTP clock.
	tickDur = time.Second / dtmf.SampleRate
	// maxLate: a frame this late makes the pacer re-anchor its deadlines
	// to now rather than send a burst to catch up.
	maxLate = 5 * frameDur
	// defaultKeyOn and defaultKeyOff are SendDigits' defaults.
	defaultKeyOn, defaultKeyOff = 100 * time.Millisecond, 100 * time.Millisecond
	// maxSendKeys bounds the keys of one SendDigits call.
	maxSendKeys = 64
	// maxKeyDur bounds on and off in SendDigits.
	maxKeyDur = 10 * time.Second
)

// G.711 codes of a zero sample, to pad a short last frame.
const (
	ulawSilence = 0xFF
	alawSilence = 0xD5
)

// txState is the RTP sending state of a session (RFC 3550): one SSRC, one
// sequence number space and one timestamp clock for audio and events.
type txState struct {
	hdr rtp.Header

	// The RTP clock: ts0 at base, advancing 8000 ticks a second whether or
	// not anything is sent, so that a talkspurt after a pause starts at a
	// timestamp that reflects the pause.
	base time.Time
	ts0  uint32
	// nextTS is the smallest timestamp the next talkspurt may use: just
	// after the last frame or event sent.
	nextTS uint32
	// The last audio frame sent, so that a Play that follows another
	// without a pause continues its talkspurt.
	haveLast bool
	lastAt   time.Time // its deadline
	lastTS   uint32

	timer *time.Timer
	buf   [12 + readBuffer]byte // the packet being written
	frame [frameSamples]byte    // the payload of one frame
	enc   frameEncoder
	evs   *dtmf.Sender
}

// init draws the random SSRC, sequence number and timestamp.
func (t *txState) init() {
	t.hdr = rtp.Header{Version: 2, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32())}
	t.base = time.Now()
	t.ts0 = rand.Uint32()
	t.nextTS = t.ts0
	t.timer = time.NewTimer(time.Hour)
	t.timer.Stop()
	var err error
	if t.evs, err = dtmf.NewSender(dtmf.SenderConfig{}); err != nil {
		panic(err) // the zero config is valid
	}
}

// clock returns the RTP timestamp of instant now, never before nextTS.
func (t *txState) clock(now time.Time) uint32 {
	ts := t.ts0 + uint32(now.Sub(t.base)/tickDur)
	if int32(ts-t.nextTS) < 0 {
		ts = t.nextTS
	}
	return ts
}

// spurt returns the deadline, timestamp and marker bit of the first frame
// of audio starting now: the continuation of the last talkspurt if its
// next frame is not yet a frame late, otherwise a new talkspurt (marker
// set) at the clock's timestamp.
func (t *txState) spurt(now time.Time) (deadline time.Time, ts uint32, marker bool) {
	if t.haveLast && now.Sub(t.lastAt) < 2*frameDur {
		return t.lastAt.Add(frameDur), t.lastTS + frameSamples, false
	}
	return now, t.clock(now), true
}

// sentAudio records the audio frame sent last.
func (t *txState) sentAudio(deadline time.Time, ts uint32) {
	t.haveLast, t.lastAt, t.lastTS = true, deadline, ts
	t.nextTS = ts + frameSamples
}

// write sends one RTP packet to the far end. It does not allocate.
func (s *Session) write(pt uint8, marker bool, ts uint32, payload []byte) error {
	t := &s.tx
	dst := s.dst.Load()
	if dst == nil {
		s.c.unsent.Add(1)
		return nil
	}
	t.hdr.PayloadType, t.hdr.Marker, t.hdr.Timestamp = pt, marker, ts
	n, err := t.hdr.MarshalTo(t.buf[:])
	if err != nil {
		return err
	}
	n += copy(t.buf[n:], payload)
	if _, err := s.conn.WriteToUDPAddrPort(t.buf[:n], *dst); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return ErrClosed
		}
		s.c.sendErrors.Add(1)
		return nil // a lost packet; the sequence number is not spent
	}
	t.hdr.SequenceNumber++
	s.c.sent.Add(1)
	s.c.sentBytes.Add(uint64(n))
	s.m.sent.Inc()
	return nil
}

// acquire takes the right to send; release gives it back.
func (s *Session) acquire(ctx context.Context) error {
	select {
	case s.sendSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return s.endErr()
	}
	if s.ended() {
		s.release()
		return s.endErr()
	}
	return nil
}

func (s *Session) release() { <-s.sendSem }

// sendParams snapshots what sending needs of the negotiation.
func (s *Session) sendParams() (negotiation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.negotiated {
		return negotiation{}, ErrNotNegotiated
	}
	return s.neg, nil
}

// Play sends audio to the far end as G.711 RTP in the negotiated codec, one
// 20 ms frame (160 samples) per packet at absolute deadlines. audio is
// 8 kHz mono: 16-bit little-endian PCM (dtmf.EncodingPCM16) or G.711 codes
// (dtmf.EncodingULaw, dtmf.EncodingALaw), transcoded if the negotiated
// codec differs; a short last frame is padded with silence. The first
// packet carries the marker bit unless it continues, without a pause, the
// audio of a Play that just ended.
//
// Play returns nil when audio ends, ctx.Err() when ctx is cancelled (the
// caller cancels it on barge-in: sending stops within a frame),
// ErrClosed or ErrMediaTimeout when the session ends, and the error of
// audio's Read. One Play or SendDigits runs at a time: a second call waits
// for the first to return.
func (s *Session) Play(ctx context.Context, audio io.Reader, enc dtmf.Encoding) error {
	neg, err := s.sendParams()
	if err != nil {
		return err
	}
	switch enc {
	case dtmf.EncodingPCM16, dtmf.EncodingULaw, dtmf.EncodingALaw:
	default:
		return fmt.Errorf("media: audio encoding %v is not supported", enc)
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	s.tx.enc.reset(audio, enc, neg.send)
	if s.e.cfg.pacing == PacingShared {
		return s.playShared(ctx, uint8(neg.send))
	}
	return s.playPerCall(ctx, uint8(neg.send))
}

// playPerCall sends the frames from the calling goroutine, sleeping on the
// session's timer until each deadline.
func (s *Session) playPerCall(ctx context.Context, pt uint8) error {
	t := &s.tx
	deadline, ts, marker := t.spurt(time.Now())
	for {
		ok, err := t.enc.next(t.frame[:])
		if err != nil || !ok {
			return err
		}
		if err := s.sleep(ctx, deadline); err != nil {
			return err
		}
		if err := s.write(pt, marker, ts, t.frame[:]); err != nil {
			return err
		}
		t.sentAudio(deadline, ts)
		marker, ts, deadline = false, ts+frameSamples, deadline.Add(frameDur)
		if now := time.Now(); now.Sub(deadline) > maxLate {
			deadline = now // stalled: go on from now, no burst
		}
	}
}

// sleep waits until deadline on the session's timer.
func (s *Session) sleep(ctx context.Context, deadline time.Time) error {
	d := time.Until(deadline)
	if d <= 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return s.endErr()
		default:
			return nil
		}
	}
	t := s.tx.timer
	t.Reset(d)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-s.done:
		t.Stop()
		return s.endErr()
	}
}

// SendDigits sends keys to the far end, each held for on and followed by
// off of silence (zero means 100 ms each; a negative off, none), as RFC 4733 telephone-events
// (m == RFC4733: the far end's event payload type, the session's SSRC,
// sequence numbers and timestamp clock, an update every 20 ms and the end
// packet three times) or as in-band tones at -10 dBm0 per tone in the
// negotiated codec (m == InBand). It is for the test softphone and the
// demo phone; SIP INFO is the SIP layer's business (m == Info returns
// ErrNoEvents). It returns like Play.
func (s *Session) SendDigits(ctx context.Context, keys string, m Method, on, off time.Duration) error {
	neg, err := s.sendParams()
	if err != nil {
		return err
	}
	if on == 0 {
		on = defaultKeyOn
	}
	switch {
	case off == 0:
		off = defaultKeyOff
	case off < 0:
		off = 0
	}
	switch {
	case len(keys) > maxSendKeys:
		return fmt.Errorf("media: %d keys to send (the limit is %d)", len(keys), maxSendKeys)
	case on < tickDur || on > maxKeyDur:
		return fmt.Errorf("media: key duration %v is outside %v-%v", on, tickDur, maxKeyDur)
	case off > maxKeyDur:
		return fmt.Errorf("media: pause %v is above %v", off, maxKeyDur)
	}
	for i := 0; i < len(keys); i++ {
		if !dtmf.ValidKey(keys[i]) {
			return fmt.Errorf("media: %w: %q", dtmf.ErrBadKey, keys[i])
		}
	}
	switch m {
	case InBand:
		toneOff := off
		if toneOff == 0 {
			toneOff = -1 // AppendTones: none
		}
		pcm, err := dtmf.AppendTones(nil, keys, dtmf.ToneConfig{On: on, Off: toneOff})
		if err != nil {
			return fmt.Errorf("media: %w", err)
		}
		b := make([]byte, 2*len(pcm))
		for i, v := range pcm {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
		return s.Play(ctx, bytes.NewReader(b), dtmf.EncodingPCM16)
	case RFC4733:
		if !neg.events {
			return ErrNoEvents
		}
	default:
		return fmt.Errorf("%w: method %v cannot be sent on RTP", ErrNoEvents, m)
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	t := &s.tx
	for i := 0; i < len(keys); i++ {
		start := time.Now()
		ts := t.clock(start)
		if err := t.evs.Start(keys[i], on, ts); err != nil {
			return fmt.Errorf("media: %w", err)
		}
		deadline := start
		for {
			p, ok := t.evs.Next()
			if !ok {
				break
			}
			if err := s.sleep(ctx, deadline); err != nil {
				t.evs = mustSender() // drop the unfinished key
				return err
			}
			if err := s.write(neg.sendEvent, p.Marker, p.Timestamp, p.Payload); err != nil {
				t.evs = mustSender()
				return err
			}
			deadline = deadline.Add(frameDur)
		}
		// The clock resumes after the event; audio continuity is broken.
		t.nextTS = ts + uint32(on/tickDur)
		t.haveLast = false
		next := start.Add(on + off)
		if next.Before(deadline) {
			next = deadline
		}
		if i < len(keys)-1 {
			if err := s.sleep(ctx, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// mustSender returns a fresh RFC 4733 sender.
func mustSender() *dtmf.Sender {
	evs, err := dtmf.NewSender(dtmf.SenderConfig{})
	if err != nil {
		panic(err)
	}
	return evs
}

// frameEncoder reads audio in one encoding and produces 20 ms frames in a
// codec. It does not allocate.
type frameEncoder struct {
	r     io.Reader
	in    dtmf.Encoding
	codec Codec
	eof   bool
	raw   [2 * frameSamples]byte
	pcm   [frameSamples]int16
}

// reset starts reading r.
func (f *frameEncoder) reset(r io.Reader, in dtmf.Encoding, codec Codec) {
	f.r, f.in, f.codec, f.eof = r, in, codec, false
}

// next fills dst (frameSamples bytes) with the next frame; ok is false at
// the end of the audio.
func (f *frameEncoder) next(dst []byte) (ok bool, err error) {
	if f.eof {
		return false, nil
	}
	size := frameSamples
	if f.in == dtmf.EncodingPCM16 {
		size *= 2
	}
	n, err := io.ReadFull(f.r, f.raw[:size])
	switch {
	case err == io.EOF:
		f.eof = true
		return false, nil
	case err == io.ErrUnexpectedEOF:
		f.eof = true
	case err != nil:
		return false, fmt.Errorf("media: reading audio: %w", err)
	}
	if f.in == dtmf.EncodingPCM16 {
		m := n / 2
		if m == 0 {
			return false, nil
		}
		for i := range m {
			f.pcm[i] = int16(binary.LittleEndian.Uint16(f.raw[2*i:]))
		}
		clear(f.pcm[m:])
		f.encode(dst, f.pcm[:])
		return true, nil
	}
	src := f.raw[:frameSamples]
	if n < frameSamples {
		pad := byte(ulawSilence)
		if f.in == dtmf.EncodingALaw {
			pad = alawSilence
		}
		for i := n; i < frameSamples; i++ {
			src[i] = pad
		}
	}
	if (f.in == dtmf.EncodingULaw) == (f.codec == PCMU) {
		copy(dst, src)
		return true, nil
	}
	if f.in == dtmf.EncodingULaw {
		g711.DecodeULawFrame(f.pcm[:], src)
	} else {
		g711.DecodeALawFrame(f.pcm[:], src)
	}
	f.encode(dst, f.pcm[:])
	return true, nil
}

// encode encodes a frame of PCM in the codec.
func (f *frameEncoder) encode(dst []byte, pcm []int16) {
	if f.codec == PCMU {
		g711.EncodeULawFrame(dst, pcm)
	} else {
		g711.EncodeALawFrame(dst, pcm)
	}
}
