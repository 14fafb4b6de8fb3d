package siptest

import (
	"testing"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

// eventKeys decodes the RFC 4733 packets of payload type pt with
// dtmf.Receiver and returns the keys that ended (a key still down at the
// end of pkts is not counted).
func eventKeys(t testing.TB, pkts []rtpPkt, pt int) string {
	t.Helper()
	rx, err := dtmf.NewReceiver(dtmf.ReceiverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []byte
	var evs []dtmf.Event
	for _, p := range pkts {
		if int(p.pt) != pt {
			continue
		}
		evs, err = rx.Receive(dtmf.Packet{SSRC: p.ssrc, SequenceNumber: p.seq, Timestamp: p.ts, Marker: p.marker, Payload: p.payload}, p.at, evs[:0])
		if err != nil {
			t.Errorf("telephone-event packet seq %d: %v", p.seq, err)
		}
		for _, e := range evs {
			if e.End {
				keys = append(keys, e.Key)
			}
		}
	}
	return string(keys)
}

// toneKeys decodes the G.711 audio packets (payload type 0 or 8) with
// dtmf.Detector and returns the keys heard.
func toneKeys(t testing.TB, pkts []rtpPkt) string {
	t.Helper()
	det, err := dtmf.NewDetector(dtmf.DetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []byte
	var tones []dtmf.Tone
	pcm := make([]int16, 2048)
	for _, p := range pkts {
		var n int
		switch p.pt {
		case ptPCMU:
			n = g711.DecodeULawFrame(pcm, p.payload)
		case ptPCMA:
			n = g711.DecodeALawFrame(pcm, p.payload)
		default:
			continue
		}
		tones = det.Detect(pcm[:n], tones[:0])
		for _, tn := range tones {
			keys = append(keys, tn.Key)
		}
	}
	for _, tn := range det.Flush(nil) {
		keys = append(keys, tn.Key)
	}
	return string(keys)
}

// countPT counts the packets of payload type pt.
func countPT(pkts []rtpPkt, pt int) int {
	n := 0
	for _, p := range pkts {
		if int(p.pt) == pt {
			n++
		}
	}
	return n
}

// checkStream checks that pkts form one realistic RTP stream: one SSRC,
// sequence numbers without gaps or repeats, and audio timestamps that
// advance by 160 per packet. With slots (SIPp's streams, where events
// replace audio), every packet takes a 20 ms slot: an audio packet's
// timestamp is the first one's plus 160 per packet sent in between.
func checkStream(t testing.TB, pkts []rtpPkt, slots bool) {
	t.Helper()
	if len(pkts) == 0 {
		t.Error("no RTP received")
		return
	}
	first := -1 // index of the first audio packet
	lastAudio := -1
	for i, p := range pkts {
		if i > 0 {
			prev := pkts[i-1]
			if p.ssrc != prev.ssrc {
				t.Errorf("SSRC changed from %08x to %08x at packet %d", prev.ssrc, p.ssrc, i)
				return
			}
			if p.seq != prev.seq+1 {
				t.Errorf("sequence number %d follows %d at packet %d", p.seq, prev.seq, i)
				return
			}
		}
		if p.pt != ptPCMU && p.pt != ptPCMA {
			continue
		}
		if first < 0 {
			first = i
		}
		if slots {
			if want := pkts[first].ts + uint32(160*(i-first)); p.ts != want {
				t.Errorf("audio packet %d (seq %d): timestamp %d, want %d", i, p.seq, p.ts, want)
				return
			}
		} else if lastAudio >= 0 {
			if d := p.ts - pkts[lastAudio].ts; d != 160 {
				t.Errorf("audio packet %d (seq %d): timestamp advanced by %d, want 160", i, p.seq, d)
				return
			}
		}
		lastAudio = i
	}
}
