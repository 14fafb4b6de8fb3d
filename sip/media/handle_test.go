package media

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

var (
	legit = netip.MustParseAddrPort("127.0.0.1:5004")
	spoof = netip.MustParseAddrPort("127.0.0.1:6000")
)

// handleSession returns a session negotiated with a far end at legit (or
// at 0.0.0.0, latching, if latch), armed but without its receive
// goroutine, for driving handle directly.
func handleSession(t testing.TB, e *Engine, latch bool) *Session {
	t.Helper()
	s := open(t, e)
	at := legit
	if latch {
		at = netip.AddrPortFrom(netip.IPv4Unspecified(), legit.Port())
	}
	if err := s.SetAnswer(sdpBody(at, "0 8 101", "rtpmap:101 telephone-event/8000")); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.arm(time.Unix(1e9, 0))
	s.mu.Unlock()
	return s
}

// packet marshals an RTP packet.
func packet(t testing.TB, pt uint8, marker bool, seq uint16, ts uint32, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker,
		SequenceNumber: seq, Timestamp: ts, SSRC: 77}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventPackets returns the packets of keys sent as RFC 4733 events, 20 ms
// apart in timestamps.
func eventPackets(t testing.TB, keys string) [][]byte {
	snd, _ := dtmf.NewSender(dtmf.SenderConfig{})
	var out [][]byte
	ts, seq := uint32(1000), uint16(1)
	for i := 0; i < len(keys); i++ {
		if err := snd.Start(keys[i], 60*time.Millisecond, ts); err != nil {
			t.Fatal(err)
		}
		for {
			p, ok := snd.Next()
			if !ok {
				break
			}
			out = append(out, packet(t, 101, p.Marker, seq, p.Timestamp, p.Payload))
			seq++
		}
		ts += 2000
	}
	return out
}

func TestHandleDedup(t *testing.T) {
	e, _ := newEngine(t, testConfig())
	s := handleSession(t, e, false)
	now := time.Unix(1e9, 0)
	tone := tones(t, "5", 100*time.Millisecond, 60*time.Millisecond, 0)
	frame := make([]byte, frameSamples)
	for i := 0; i+frameSamples <= len(tone); i += frameSamples {
		g711.EncodeULawFrame(frame, tone[i:i+frameSamples])
		s.handle(packet(t, 0, i == 0, uint16(i), uint32(i), frame), legit, now)
		now = now.Add(frameDur)
	}
	// The event for the same press arrives 100 ms after the tone was
	// confirmed: suppressed. The same key by INFO 250 ms later: a new press.
	for _, b := range eventPackets(t, "5") {
		s.handle(b, legit, now)
	}
	s.emit('5', Info, now.Add(250*time.Millisecond), 0)
	ds := collect(s, 10*time.Millisecond)
	if keysOf(ds) != "55" || ds[0].Method != InBand || ds[1].Method != Info {
		t.Fatalf("digits %v (%q), want 5 by inband then 5 by info", ds, keysOf(ds))
	}
	// After the event, tones are no longer detected.
	for i := 0; i+frameSamples <= len(tone); i += frameSamples {
		g711.EncodeULawFrame(frame, tone[i:i+frameSamples])
		s.handle(packet(t, 0, false, uint16(i), uint32(i), frame), legit, now)
	}
	if ds := collect(s, 10*time.Millisecond); len(ds) != 0 {
		t.Fatalf("in-band digits %v after an event", ds)
	}
}

func TestHandleOverflow(t *testing.T) {
	e, _ := newEngine(t, testConfig())
	s := handleSession(t, e, false)
	now := time.Unix(1e9, 0)
	keys := "1234567890*#ABCD1234"
	for _, b := range eventPackets(t, keys) {
		s.handle(b, legit, now)
		now = now.Add(frameDur)
	}
	if st := s.Stats(); st.Digits != digitBuffer || st.Overflow != uint64(len(keys)-digitBuffer) {
		t.Fatalf("stats %+v, want %d digits and %d overflows", st, digitBuffer, len(keys)-digitBuffer)
	}
}

func TestCheckRTP(t *testing.T) {
	ok := packet(t, 0, false, 1, 1, []byte{1, 2, 3})
	ext := func(profile uint16, words int, body ...byte) []byte {
		b := []byte{0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, byte(profile >> 8), byte(profile), 0, byte(words)}
		return append(b, body...)
	}
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"valid", ok, true},
		{"short", ok[:11], false},
		{"version 1", append([]byte{0x40}, ok[1:]...), false},
		{"csrc past end", append([]byte{0x83}, ok[1:]...), false},
		{"padding zero", append(append([]byte{0xA0}, ok[1:]...), 0), false},
		{"padding too long", append(append([]byte{0xA0}, ok[1:]...), 9), false},
		{"padding ok", append(append([]byte{0xA0}, ok[1:]...), 1), true},
		{"header only", ok[:12:12], true},
		{"extension header missing", append([]byte{0x90}, ok[1:12]...), false},
		{"extension words past end", ext(0x1234, 2, 0, 0, 0, 0), false},
		{"extension rfc3550", ext(0x1234, 1, 9, 9, 9, 9), true},
		{"one-byte element past end", ext(0xBEDE, 1, 0x13, 1, 2, 3), false},
		{"one-byte element fits", ext(0xBEDE, 1, 0x12, 1, 2, 3), true},
		{"one-byte padding then reserved", ext(0xBEDE, 1, 0, 0xF3, 0, 0), true},
		{"two-byte length past end", ext(0x1000, 1, 1, 3, 0, 0), false},
		{"two-byte no length", ext(0x1000, 1, 0, 0, 0, 7), false},
		{"two-byte fits", ext(0x1000, 1, 1, 2, 5, 5), true},
	}
	var p rtp.Packet
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkRTP(tc.b); got != tc.want {
				t.Fatalf("checkRTP = %v, want %v", got, tc.want)
			}
			// checkRTP accepts exactly what rtp.Packet.Unmarshal parses.
			if err := p.Unmarshal(tc.b); (err == nil) != tc.want && tc.b[0]>>6 == 2 {
				t.Fatalf("Unmarshal: %v, checkRTP: %v", err, tc.want)
			}
		})
	}
}

func FuzzHandle(f *testing.F) {
	for _, b := range eventPackets(f, "1#") {
		f.Add(b, false)
	}
	f.Add(packet(f, 0, true, 9, 9, make([]byte, frameSamples)), true)
	f.Add(packet(f, 13, false, 9, 9, []byte{40}), false)
	f.Add([]byte{0x90, 101, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0, 1, 0x8A, 0, 160}, false)
	e, _ := newEngine(f, testConfig())
	silence := packet(f, 8, true, 1, 1, make([]byte, frameSamples))
	f.Fuzz(func(t *testing.T, b []byte, latch bool) {
		s := handleSession(t, e, latch)
		now := time.Unix(1e9, 0)
		if latch {
			s.handle(silence, legit, now)
			if !s.rx.locked || s.rx.src != legit {
				t.Fatal("did not latch onto the first valid packet")
			}
		}
		// From another source: dropped, whatever it holds.
		for range 3 {
			now = now.Add(frameDur)
			s.handle(b, spoof, now)
		}
		if len(s.digits) != 0 || s.Stats().DroppedSource != 3 {
			t.Fatalf("a packet from a foreign source was not dropped: %+v", s.Stats())
		}
		// From the far end: no panic; digits only from valid events.
		for range 3 {
			now = now.Add(frameDur)
			s.handle(b, legit, now)
		}
		_ = s.Close()
	})
}

func FuzzSetAnswer(f *testing.F) {
	f.Add([]byte(sippAnswer))
	f.Add([]byte(baresipAnswer))
	f.Add(sdpBody(netip.MustParseAddrPort("0.0.0.0:0"), "0 96", "rtpmap:96 telephone-event/8000"))
	e, _ := newEngine(f, testConfig())
	f.Fuzz(func(t *testing.T, b []byte) {
		s := open(t, e)
		if err := s.SetAnswer(b); err == nil {
			n, ok := s.Negotiated()
			if !ok || (n.Codec != PCMU && n.Codec != PCMA) || (n.EventPT != 0 && n.EventPT < 96) {
				t.Fatalf("negotiated %+v", n)
			}
		}
		_ = s.Close()
		s = open(t, e)
		if answer, err := s.AcceptOffer(b); err == nil {
			if _, err := parseMedia(answer); err != nil {
				t.Fatalf("our answer does not parse: %v\n%s", err, answer)
			}
		}
		_ = s.Close()
	})
}
