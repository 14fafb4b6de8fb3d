package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

var pacings = []Pacing{PacingPerCall, PacingShared}

// pacedEngine returns an engine using pacing p.
func pacedEngine(t testing.TB, p Pacing) *Engine {
	cfg := testConfig()
	cfg.Pacing = p
	e, _ := newEngine(t, cfg)
	return e
}

// prompt returns n samples of a chirp with some noise: every frame differs.
func prompt(n int) []int16 {
	r := rand.New(rand.NewPCG(1, 2))
	pcm := make([]int16, n)
	for i := range pcm {
		f := 300 + 2000*float64(i)/float64(n)
		pcm[i] = int16(8000*math.Sin(2*math.Pi*f*float64(i)/8000) + float64(r.IntN(512)-256))
	}
	return pcm
}

func pcmBytes(pcm []int16) []byte {
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func encode(c Codec, pcm []int16) []byte {
	b := make([]byte, len(pcm))
	if c == PCMU {
		g711.EncodeULawFrame(b, pcm)
	} else {
		g711.EncodeALawFrame(b, pcm)
	}
	return b
}

// checkSpurt checks that pkts are one talkspurt: sequence numbers +1,
// timestamps +160, the marker on the first packet only, one SSRC, 20 ms
// pacing without drift; and returns the concatenated payloads.
func checkSpurt(t *testing.T, pkts []received) []byte {
	t.Helper()
	var audio []byte
	first := pkts[0]
	if !first.pkt.Marker {
		t.Error("no marker on the first packet of the talkspurt")
	}
	for i, r := range pkts {
		h := r.pkt.Header
		audio = append(audio, r.pkt.Payload...)
		if i == 0 {
			continue
		}
		prev := pkts[i-1].pkt.Header
		switch {
		case h.Marker:
			t.Errorf("packet %d: marker inside a talkspurt", i)
		case h.SequenceNumber != prev.SequenceNumber+1:
			t.Errorf("packet %d: sequence number %d after %d", i, h.SequenceNumber, prev.SequenceNumber)
		case h.Timestamp != prev.Timestamp+frameSamples:
			t.Errorf("packet %d: timestamp %d after %d", i, h.Timestamp, prev.Timestamp)
		case h.SSRC != first.pkt.SSRC:
			t.Errorf("packet %d: SSRC %#x, want %#x", i, h.SSRC, first.pkt.SSRC)
		}
	}
	// Packet i is due at first + i·20 ms. On a loaded machine a packet
	// may be late now and then (scheduling noise); an offset that grows
	// with i is drift, which absolute deadlines must not have.
	offs := make([]time.Duration, len(pkts))
	for i, r := range pkts {
		offs[i] = r.at.Sub(first.at) - time.Duration(i)*frameDur
	}
	// The packet that left most promptly is the reference (the first
	// one may itself have been late).
	ref := slices.Min(offs)
	late := 0
	for i := range offs {
		offs[i] -= ref
		if offs[i] > 60*time.Millisecond {
			t.Errorf("packet %d arrived %v after its deadline", i, offs[i])
		}
		if offs[i] > 10*time.Millisecond {
			late++
		}
	}
	if late > len(pkts)/10 {
		t.Errorf("%d of %d packets more than 10 ms late: %v", late, len(pkts), offs)
	}
	if n := len(offs) / 4; n >= 3 {
		if d := median(offs[len(offs)-n:]) - median(offs[:n]); d < -2*time.Millisecond || d > 3*time.Millisecond {
			t.Errorf("pacing drifted by %v over %d frames: %v", d, len(pkts), offs)
		}
	}
	return audio
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func TestPlay(t *testing.T) {
	pcm := prompt(40 * frameSamples)
	ulaw, alaw := encode(PCMU, pcm), encode(PCMA, pcm)
	cases := []struct {
		name  string
		codec Codec
		enc   dtmf.Encoding
		audio []byte
		want  []byte
	}{
		{"pcm16 to PCMU", PCMU, dtmf.EncodingPCM16, pcmBytes(pcm), ulaw},
		{"pcm16 to PCMA", PCMA, dtmf.EncodingPCM16, pcmBytes(pcm), alaw},
		{"ulaw as is", PCMU, dtmf.EncodingULaw, ulaw, ulaw},
		{"alaw as is", PCMA, dtmf.EncodingALaw, alaw, alaw},
		{"ulaw to PCMA", PCMA, dtmf.EncodingULaw, ulaw, encode(PCMA, decodeAll(PCMU, ulaw))},
		{"alaw to PCMU", PCMU, dtmf.EncodingALaw, alaw, encode(PCMU, decodeAll(PCMA, alaw))},
		{"short last frame", PCMU, dtmf.EncodingPCM16, pcmBytes(pcm[:frameSamples+10]),
			append(encode(PCMU, pcm[:frameSamples+10]), bytes.Repeat([]byte{ulawSilence}, frameSamples-10)...)},
	}
	for _, pacing := range pacings {
		t.Run(pacing.String(), func(t *testing.T) {
			e := pacedEngine(t, pacing)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s, p := negotiated(t, e, ptOf(tc.codec))
					p.record()
					if err := s.Play(t.Context(), bytes.NewReader(tc.audio), tc.enc); err != nil {
						t.Fatal(err)
					}
					pkts := p.waitPackets(len(tc.want)/frameSamples, time.Second)
					for _, r := range pkts {
						if r.pkt.PayloadType != uint8(tc.codec) || len(r.pkt.Payload) != frameSamples {
							t.Fatalf("packet PT %d with %d bytes, want PT %d with %d", r.pkt.PayloadType, len(r.pkt.Payload), tc.codec, frameSamples)
						}
					}
					if got := checkSpurt(t, pkts); !bytes.Equal(got, tc.want) {
						t.Fatalf("the peer received %d bytes of audio that differ from the prompt (%d bytes)", len(got), len(tc.want))
					}
					if st := s.Stats(); st.Sent != uint64(len(pkts)) || st.Underruns != 0 {
						t.Errorf("stats %+v, want %d sent and no underrun", st, len(pkts))
					}
				})
			}
		})
	}
}

func decodeAll(c Codec, b []byte) []int16 {
	pcm := make([]int16, len(b))
	if c == PCMU {
		g711.DecodeULawFrame(pcm, b)
	} else {
		g711.DecodeALawFrame(pcm, b)
	}
	return pcm
}

func TestPlayTalkspurts(t *testing.T) {
	for _, pacing := range pacings {
		t.Run(pacing.String(), func(t *testing.T) {
			e := pacedEngine(t, pacing)
			s, p := negotiated(t, e, "0")
			p.record()
			frames := func(n int) *bytes.Reader { return bytes.NewReader(make([]byte, n*frameSamples)) }
			ctx := t.Context()
			if err := s.Play(ctx, frames(5), dtmf.EncodingULaw); err != nil {
				t.Fatal(err)
			}
			pause := 300 * time.Millisecond
			time.Sleep(pause)
			// Two prompts back to back make one talkspurt.
			if err := s.Play(ctx, frames(5), dtmf.EncodingULaw); err != nil {
				t.Fatal(err)
			}
			if err := s.Play(ctx, frames(5), dtmf.EncodingULaw); err != nil {
				t.Fatal(err)
			}
			pkts := p.waitPackets(15, time.Second)
			checkSpurt(t, pkts[:5])
			checkSpurt(t, pkts[5:])
			a, b := pkts[4].pkt.Header, pkts[5].pkt.Header
			if b.SequenceNumber != a.SequenceNumber+1 {
				t.Errorf("sequence number %d after %d across the pause", b.SequenceNumber, a.SequenceNumber)
			}
			// The clock ran during the pause: the timestamp jumps by the
			// time between the two packets.
			gap := pkts[5].at.Sub(pkts[4].at)
			want := uint32(gap / tickDur)
			if d := int32(b.Timestamp - a.Timestamp - want); d < -80 || d > 80 {
				t.Errorf("timestamp +%d across a %v gap, want about +%d", b.Timestamp-a.Timestamp, gap, want)
			}
		})
	}
}

func TestPlayBargeIn(t *testing.T) {
	for _, pacing := range pacings {
		t.Run(pacing.String(), func(t *testing.T) {
			e := pacedEngine(t, pacing)
			s, p := negotiated(t, e, "0")
			p.record()
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			err := s.Play(ctx, bytes.NewReader(make([]byte, 250*frameSamples)), dtmf.EncodingULaw)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Play: %v, want context.Canceled", err)
			}
			if el := time.Since(start); el > 300*time.Millisecond {
				t.Errorf("Play returned %v after the start, 200 ms after cancel", el)
			}
			n := len(p.packets())
			time.Sleep(100 * time.Millisecond)
			if m := len(p.packets()); m > n+1 || m > 14 {
				t.Errorf("%d packets, then %d after cancelling at 200 ms", n, m)
			}
			// The session still plays afterwards.
			if err := s.Play(t.Context(), bytes.NewReader(make([]byte, 2*frameSamples)), dtmf.EncodingULaw); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPlayErrors(t *testing.T) {
	for _, pacing := range pacings {
		t.Run(pacing.String(), func(t *testing.T) {
			e := pacedEngine(t, pacing)
			s := open(t, e)
			audio := bytes.NewReader(make([]byte, 10*frameSamples))
			if err := s.Play(t.Context(), audio, dtmf.EncodingULaw); !errors.Is(err, ErrNotNegotiated) {
				t.Fatalf("Play before SetAnswer: %v", err)
			}
			if err := s.SetAnswer([]byte(sippAnswer)); err != nil {
				t.Fatal(err)
			}
			if err := s.Play(t.Context(), audio, dtmf.Encoding(3)); err == nil {
				t.Fatal("Play accepted encoding 3")
			}
			time.AfterFunc(50*time.Millisecond, func() { _ = s.Close() })
			err := s.Play(t.Context(), bytes.NewReader(make([]byte, 100*frameSamples)), dtmf.EncodingULaw)
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Play during Close: %v, want ErrClosed", err)
			}
			if err := s.Play(t.Context(), audio, dtmf.EncodingULaw); !errors.Is(err, ErrClosed) {
				t.Fatalf("Play after Close: %v, want ErrClosed", err)
			}
			if err := s.SendDigits(t.Context(), "1", Info, 0, 0); !errors.Is(err, ErrNoEvents) {
				t.Fatalf("SendDigits(Info): %v, want ErrNoEvents", err)
			}
		})
	}
}

func TestSendDigitsRoundTrip(t *testing.T) {
	cases := []struct {
		keys    string
		method  Method
		on, off time.Duration
	}{
		{"1234567890*#ABCD", RFC4733, 60 * time.Millisecond, 40 * time.Millisecond},
		{"5#", RFC4733, 0, 0},
		{"2580*#", InBand, 80 * time.Millisecond, 60 * time.Millisecond},
		{"5#", InBand, 0, 0},
	}
	for _, pacing := range pacings {
		t.Run(pacing.String(), func(t *testing.T) {
			e := pacedEngine(t, pacing)
			for _, tc := range cases {
				t.Run(tc.method.String()+" "+tc.keys, func(t *testing.T) {
					t.Parallel()
					ivr := open(t, e)
					phone := open(t, e)
					offer, _ := ivr.Offer()
					answer, err := phone.AcceptOffer(offer)
					if err != nil {
						t.Fatal(err)
					}
					if err := ivr.SetAnswer(answer); err != nil {
						t.Fatal(err)
					}
					ivr.Start()
					phone.Start()
					if err := phone.SendDigits(t.Context(), tc.keys, tc.method, tc.on, tc.off); err != nil {
						t.Fatal(err)
					}
					ds := collect(ivr, quiet)
					if got := keysOf(ds); got != tc.keys {
						t.Fatalf("the IVR heard %q, want %q", got, tc.keys)
					}
					for _, d := range ds {
						if d.Method != tc.method {
							t.Errorf("key %c by %v, want %v", d.Key, d.Method, tc.method)
						}
					}
				})
			}
		})
	}
}

// TestSendDigitsWire checks RFC 4733 packets against audio on the wire:
// one SSRC, one sequence space, timestamps that advance.
func TestSendDigitsWire(t *testing.T) {
	e := pacedEngine(t, PacingDefault)
	phone := open(t, e)
	p := newPeer(t, netip.Addr{}, phone)
	p.record()
	if _, err := phone.AcceptOffer(p.answer("0 101", "rtpmap:101 telephone-event/8000")); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	frames := func(n int) *bytes.Reader { return bytes.NewReader(make([]byte, n*frameSamples)) }
	if err := phone.Play(ctx, frames(3), dtmf.EncodingULaw); err != nil {
		t.Fatal(err)
	}
	if err := phone.SendDigits(ctx, "12", RFC4733, 60*time.Millisecond, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := phone.Play(ctx, frames(3), dtmf.EncodingULaw); err != nil {
		t.Fatal(err)
	}
	// 3 audio, per key 3 updates (20, 40, 60 ms; the last with E) and 2
	// more end copies, 3 audio.
	pkts := p.waitPackets(16, time.Second)
	kinds := ""
	for i, r := range pkts {
		h := r.pkt.Header
		if h.PayloadType == 101 {
			kinds += "e"
		} else {
			kinds += "a"
		}
		if h.Marker {
			kinds += "M"
		}
		if i == 0 {
			continue
		}
		prev := pkts[i-1].pkt.Header
		if h.SSRC != prev.SSRC || h.SequenceNumber != prev.SequenceNumber+1 {
			t.Errorf("packet %d: SSRC %#x seq %d after SSRC %#x seq %d", i, h.SSRC, h.SequenceNumber, prev.SSRC, prev.SequenceNumber)
		}
		if int32(h.Timestamp-prev.Timestamp) < 0 {
			t.Errorf("packet %d: timestamp %d before %d", i, h.Timestamp, prev.Timestamp)
		}
		if h.PayloadType == 101 && prev.PayloadType == 101 && !h.Marker && h.Timestamp != prev.Timestamp {
			t.Errorf("packet %d: an event's timestamp changed", i)
		}
	}
	if want := "aMaaeMeeeeeMeeeeaMaa"; kinds != want {
		t.Errorf("packets %s, want %s (a audio, e event, M marker)", kinds, want)
	}
	// The second event starts after the first one's duration, and the
	// audio after the second's.
	if d := pkts[8].pkt.Timestamp - pkts[3].pkt.Timestamp; d < 480 {
		t.Errorf("second event %d ticks after the first, want at least 480", d)
	}
	if d := pkts[13].pkt.Timestamp - pkts[8].pkt.Timestamp; d < 480 {
		t.Errorf("audio %d ticks after the last event, want at least 480", d)
	}
}
