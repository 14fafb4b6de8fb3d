package media

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

const quiet = 300 * time.Millisecond

func TestReceiveEvents(t *testing.T) {
	e, _ := newEngine(t, testConfig())
	// The answer moves telephone-event to 96; packets with the offered
	// 101 are accepted too (pjsip#3700: peers send either).
	s, p := negotiated(t, e, "8 96", "rtpmap:8 PCMA/8000", "rtpmap:96 telephone-event/8000", "fmtp:96 0-15")
	if n, _ := s.Negotiated(); n.Codec != PCMA || n.EventPT != 96 {
		t.Fatalf("negotiated %+v, want PCMA and event PT 96", n)
	}
	p.sendAudio(PCMA, make([]int16, 3*frameSamples), 0)
	p.sendKey(96, '5', 100*time.Millisecond, 0, time.Millisecond)
	p.sendAudio(PCMA, make([]int16, 3*frameSamples), 0)
	p.sendKey(101, '#', 100*time.Millisecond, 0, time.Millisecond)
	ds := collect(s, quiet)
	if got := keysOf(ds); got != "5#" {
		t.Fatalf("keys %q, want \"5#\"", got)
	}
	for _, d := range ds {
		if d.Method != RFC4733 {
			t.Errorf("key %c by %v, want rfc4733", d.Key, d.Method)
		}
	}
	st := s.Stats()
	if st.Audio != 6 || st.Events == 0 || st.Digits != 2 {
		t.Errorf("stats %+v: want 6 audio packets, some events, 2 digits", st)
	}
}

func TestReceiveInBand(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		t.Run(c.String(), func(t *testing.T) {
			e, _ := newEngine(t, testConfig())
			s, p := negotiated(t, e, ptOf(c)+" 101", "rtpmap:101 telephone-event/8000")
			p.sendAudio(c, tones(t, "159#0*", 80*time.Millisecond, 80*time.Millisecond, 100*time.Millisecond), time.Millisecond)
			ds := collect(s, quiet)
			if got := keysOf(ds); got != "159#0*" {
				t.Fatalf("keys %q, want \"159#0*\"", got)
			}
			for _, d := range ds {
				if d.Method != InBand || d.Duration < 20*time.Millisecond || d.Duration > 80*time.Millisecond {
					t.Errorf("digit %+v: want inband, held 20-80 ms when confirmed", d)
				}
			}
		})
	}
}

// ptOf is the payload type number of c as it appears on an m= line.
func ptOf(c Codec) string {
	if c == PCMA {
		return "8"
	}
	return "0"
}

func TestReceiveEventsAndTones(t *testing.T) {
	t.Run("events first", func(t *testing.T) {
		e, _ := newEngine(t, testConfig())
		s, p := negotiated(t, e, "0 101", "rtpmap:101 telephone-event/8000")
		// A gateway that sends both: the event starts, then the tone
		// arrives in the audio. After the first event, in-band
		// detection is off for the session.
		clock := p.clock
		p.sendKey(101, '7', 120*time.Millisecond, 0, 0)
		p.clock = clock
		p.sendAudio(PCMU, tones(t, "7", 120*time.Millisecond, 100*time.Millisecond, 0), 0)
		p.sendAudio(PCMU, tones(t, "3", 120*time.Millisecond, 100*time.Millisecond, 0), 0)
		ds := collect(s, quiet)
		if got := keysOf(ds); got != "7" || ds[0].Method != RFC4733 {
			t.Fatalf("digits %v (keys %q), want one 7 by rfc4733 and no in-band 3", ds, got)
		}
	})
	t.Run("tone first", func(t *testing.T) {
		e, _ := newEngine(t, testConfig())
		s, p := negotiated(t, e, "0 101", "rtpmap:101 telephone-event/8000")
		clock := p.clock
		p.sendAudio(PCMU, tones(t, "7", 120*time.Millisecond, 100*time.Millisecond, 0), 0)
		p.clock = clock
		p.sendKey(101, '7', 120*time.Millisecond, 0, 0)
		ds := collect(s, quiet)
		if got := keysOf(ds); got != "7" || ds[0].Method != InBand {
			t.Fatalf("digits %v (keys %q), want one 7 by inband", ds, got)
		}
		if st := s.Stats(); st.Duplicates != 1 {
			t.Errorf("Duplicates = %d, want 1", st.Duplicates)
		}
	})
	t.Run("info", func(t *testing.T) {
		e, _ := newEngine(t, testConfig())
		s, p := negotiated(t, e, "0 101", "rtpmap:101 telephone-event/8000")
		p.sendKey(101, '9', 100*time.Millisecond, 0, 0)
		if ds := collect(s, 100*time.Millisecond); keysOf(ds) != "9" {
			t.Fatalf("keys %q, want 9", keysOf(ds))
		}
		s.InfoDigit('9', 100*time.Millisecond) // the same press, by INFO
		s.InfoDigit('4', 100*time.Millisecond)
		s.InfoDigit('!', 100*time.Millisecond) // a flash: not a key
		if ds := collect(s, 100*time.Millisecond); keysOf(ds) != "4" || ds[0].Method != Info {
			t.Fatalf("digits %v, want one 4 by info", ds)
		}
		time.Sleep(dedupWindow)
		s.InfoDigit('9', 100*time.Millisecond) // a new press
		if ds := collect(s, 100*time.Millisecond); keysOf(ds) != "9" {
			t.Fatalf("keys %q, want a second 9", keysOf(ds))
		}
	})
}

func TestReceiveSpoofedSource(t *testing.T) {
	e, _ := newEngine(t, testConfig())
	s, p := negotiated(t, e, "0 101", "rtpmap:101 telephone-event/8000")
	spoof := newPeer(t, netip.Addr{}, s)
	spoof.hdr = p.hdr // even the right SSRC and sequence numbers
	done := make(chan struct{})
	go func() { // the real peer sends silence meanwhile
		defer close(done)
		p.sendAudio(PCMU, make([]int16, 15*frameSamples), 5*time.Millisecond)
	}()
	for _, k := range []byte("0123") {
		spoof.sendKey(101, k, 60*time.Millisecond, 0, time.Millisecond)
		spoof.send(101, true, spoof.clock, []byte{1, 0x8A, 0, 160}) // a bare end packet
	}
	spoof.sendAudio(PCMU, tones(t, "8", 100*time.Millisecond, 50*time.Millisecond, 0), 0)
	<-done
	if ds := collect(s, quiet); len(ds) != 0 {
		t.Fatalf("digits %q from a spoofed source", keysOf(ds))
	}
	st := s.Stats()
	if st.DroppedSource == 0 || st.Audio != 15 || st.Events != 0 {
		t.Fatalf("stats %+v: want spoofed packets dropped for their source, 15 audio packets, no events", st)
	}
	// The real peer is still heard.
	p.sendKey(101, '2', 60*time.Millisecond, 0, 0)
	if ds := collect(s, quiet); keysOf(ds) != "2" {
		t.Fatalf("keys %q from the real peer, want 2", keysOf(ds))
	}
}

func TestReceiveMarkerLost(t *testing.T) {
	e, _ := newEngine(t, testConfig())
	s, p := negotiated(t, e, "0 101", "rtpmap:101 telephone-event/8000")
	p.sendKey(101, '6', 120*time.Millisecond, 2, 0) // the M packet and the next lost
	p.sendAudio(PCMU, make([]int16, 2*frameSamples), 0)
	p.sendKey(101, '6', 120*time.Millisecond, 1, 0) // the same key again
	p.sendKey(101, '*', 40*time.Millisecond, 1, 0)  // only the 3 end packets arrive
	if ds := collect(s, quiet); keysOf(ds) != "66*" {
		t.Fatalf("keys %q, want \"66*\"", keysOf(ds))
	}
}

func TestReceiveTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.Inactivity = 300 * time.Millisecond
	e, _ := newEngine(t, cfg)
	t.Run("silence then nothing", func(t *testing.T) {
		s, p := negotiated(t, e, "0")
		p.sendAudio(PCMU, make([]int16, 10*frameSamples), 20*time.Millisecond)
		last := time.Now().Add(-20 * time.Millisecond) // the last packet left before the last sleep
		select {
		case <-s.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("no media timeout")
		}
		if el := time.Since(last); el < 290*time.Millisecond || el > time.Second {
			t.Errorf("timed out %v after the last packet, want 300 ms", el)
		}
		if !errors.Is(s.Err(), ErrMediaTimeout) {
			t.Fatalf("Err = %v, want ErrMediaTimeout", s.Err())
		}
		if _, ok := <-s.Digits(); ok {
			t.Fatal("Digits still open after the timeout")
		}
		_ = s.Close()
		if !errors.Is(s.Err(), ErrMediaTimeout) {
			t.Fatalf("Err after Close = %v, want ErrMediaTimeout", s.Err())
		}
	})
	t.Run("nothing at all", func(t *testing.T) {
		s, _ := negotiated(t, e, "0")
		select {
		case <-s.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("no media timeout")
		}
		if !errors.Is(s.Err(), ErrMediaTimeout) {
			t.Fatalf("Err = %v", s.Err())
		}
	})
	t.Run("close", func(t *testing.T) {
		s, _ := negotiated(t, e, "0")
		_ = s.Close()
		_ = s.Close()
		if s.Err() != nil {
			t.Fatalf("Err after Close = %v, want nil", s.Err())
		}
		select {
		case <-s.Done():
		default:
			t.Fatal("Done open after Close")
		}
	})
}

func TestReceiveLatch(t *testing.T) {
	peerB := netip.MustParseAddr("127.0.0.2")
	cases := []struct {
		name  string
		latch bool
		sdpAt func(p *peer) netip.AddrPort // the address the answer gives
		from  netip.Addr                   // the real peer's IP
		sigIP netip.Addr                   // SetPeerIP, if valid
	}{
		{"sdp 0.0.0.0", false, func(p *peer) netip.AddrPort {
			return netip.AddrPortFrom(netip.IPv4Unspecified(), p.addr.Port())
		}, loopback, netip.Addr{}},
		{"config latch, sdp elsewhere", true, func(p *peer) netip.AddrPort {
			return netip.MustParseAddrPort("192.0.2.2:16500") // baresip's primary interface
		}, loopback, netip.Addr{}},
		{"sdp 0.0.0.0, signalling peer", false, func(p *peer) netip.AddrPort {
			return netip.AddrPortFrom(netip.IPv4Unspecified(), 9)
		}, peerB, peerB},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Latch = tc.latch
			e, _ := newEngine(t, cfg)
			s := open(t, e)
			p := newPeer(t, tc.from, s)
			p.record()
			if err := s.SetAnswer(sdpBody(tc.sdpAt(p), "0 101", "rtpmap:101 telephone-event/8000")); err != nil {
				t.Fatal(err)
			}
			s.SetPeerIP(tc.sigIP)
			s.Start()
			other := newPeer(t, netip.Addr{}, s)
			if tc.sigIP.IsValid() {
				// Not from the signalling peer: cannot latch.
				other.sendAudio(PCMU, make([]int16, 2*frameSamples), 0)
				other.sendKey(101, '1', 60*time.Millisecond, 0, 0)
			}
			// Before latching, Play has nowhere to send (unless the SDP
			// address is usable: then it goes there).
			p.sendAudio(PCMU, make([]int16, 2*frameSamples), 0)
			time.Sleep(50 * time.Millisecond)
			other.sendKey(101, '3', 60*time.Millisecond, 0, 0) // after latching
			p.sendKey(101, '4', 60*time.Millisecond, 0, 0)
			if ds := collect(s, quiet); keysOf(ds) != "4" {
				t.Fatalf("keys %q, want only 4 from the latched source", keysOf(ds))
			}
			st := s.Stats()
			if !st.Latched || st.Source != p.addr || st.DroppedSource == 0 {
				t.Fatalf("stats %+v: want latched to %v and the other source dropped", st, p.addr)
			}
			// Symmetric RTP: frames go to the latched source.
			if err := s.Play(t.Context(), bytes.NewReader(make([]byte, 2*frameSamples)), dtmf.EncodingULaw); err != nil {
				t.Fatal(err)
			}
			p.waitPackets(2, time.Second)
		})
	}
}
