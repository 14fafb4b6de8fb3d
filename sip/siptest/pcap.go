package siptest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

// Media constants of the generated streams: 20 ms G.711 frames at 8 kHz.
const (
	frameSamples = 160
	frameTime    = 20 * time.Millisecond
	// ptPCMU and ptPCMA are the static RTP payload types of G.711.
	ptPCMU = 0
	ptPCMA = 8
)

// codec is the G.711 variant of a generated stream.
type codec uint8

// The codecs.
const (
	// codecPCMU is G.711 µ-law, RTP payload type 0.
	codecPCMU codec = iota
	// codecPCMA is G.711 A-law, RTP payload type 8.
	codecPCMA
)

// PT returns the static RTP payload type.
func (c codec) PT() uint8 {
	if c == codecPCMA {
		return ptPCMA
	}
	return ptPCMU
}

// silence returns the G.711 code of a zero sample.
func (c codec) silence() byte {
	if c == codecPCMA {
		return g711.EncodeALaw(0)
	}
	return g711.EncodeULaw(0)
}

// encode encodes one frame.
func (c codec) encode(dst []byte, pcm []int16) {
	if c == codecPCMA {
		g711.EncodeALawFrame(dst, pcm)
		return
	}
	g711.EncodeULawFrame(dst, pcm)
}

// rtpPacket is one RTP packet and when it is sent, from the start of its
// pcap file.
type rtpPacket struct {
	at   time.Duration
	data []byte
}

// rtpStream builds one realistic RTP stream, as a phone sends it: one SSRC,
// one packet every 20 ms, sequence numbers and timestamps that continue
// without a gap through audio and telephone-events. It is a value: copying
// it forks the stream (the pcap of each telephone-event payload type starts
// from the same state).
type rtpStream struct {
	codec codec
	ssrc  uint32
	seq   uint16
	ts    uint32        // timestamp of the next audio frame
	at    time.Duration // send time of the next packet in the current file
	pkts  []rtpPacket
}

// newStream returns a stream with a random SSRC, sequence number and
// timestamp, as RFC 3550 asks.
func newStream(c codec) rtpStream {
	return rtpStream{codec: c, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
}

// file starts a new pcap file: the packets so far are dropped and time
// starts again at zero; SSRC, sequence numbers and timestamps go on.
func (s *rtpStream) file() {
	s.pkts = nil
	s.at = 0
}

// add appends one packet at the current time and advances time by a frame.
func (s *rtpStream) add(pt uint8, marker bool, ts uint32, payload []byte) {
	b := make([]byte, 12+len(payload))
	b[0] = 0x80 // version 2
	b[1] = pt & 0x7F
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], s.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], s.ssrc)
	copy(b[12:], payload)
	s.pkts = append(s.pkts, rtpPacket{at: s.at, data: b})
	s.seq++
	s.at += frameTime
}

// silence appends d of silent audio frames.
func (s *rtpStream) silence(d time.Duration) {
	frame := make([]byte, frameSamples)
	for i := range frame {
		frame[i] = s.codec.silence()
	}
	for range int(d / frameTime) {
		s.add(s.codec.PT(), false, s.ts, frame)
		s.ts += frameSamples
	}
}

// sparseEvery is how often a sparse stream sends one frame of silence.
// SIPp 3.6.1 plays a pcap's packets back to back across a gap of a second
// or more, so a sparse stream keeps a packet every sparseEvery.
const sparseEvery = 200 * time.Millisecond

// skip lets d pass sending one frame of silence every sparseEvery instead
// of every frame, as a sender with silence suppression does.
func (s *rtpStream) skip(d time.Duration) {
	frame := make([]byte, frameSamples)
	for i := range frame {
		frame[i] = s.codec.silence()
	}
	per := int(sparseEvery / frameTime)
	for i := range int(d / frameTime) {
		if i%per == 0 {
			s.add(s.codec.PT(), false, s.ts, frame)
			s.at -= frameTime // add advanced time by one frame
		}
		s.at += frameTime
		s.ts += frameSamples
	}
}

// pcm appends audio frames of pcm, the last one padded with silence.
func (s *rtpStream) pcm(pcm []int16) {
	var buf [frameSamples]int16
	for len(pcm) > 0 {
		n := copy(buf[:], pcm)
		clear(buf[n:])
		pcm = pcm[n:]
		frame := make([]byte, frameSamples)
		s.codec.encode(frame, buf[:])
		s.add(s.codec.PT(), false, s.ts, frame)
		s.ts += frameSamples
	}
}

// tones appends the in-band DTMF tones of key, lasting d.
func (s *rtpStream) tones(key byte, d time.Duration) error {
	pcm, err := dtmf.AppendTones(nil, string(key), dtmf.ToneConfig{On: d, Off: -1})
	if err != nil {
		return err
	}
	s.pcm(pcm)
	return nil
}

// ringback appends d of North American ringback tone (440 + 480 Hz, each
// at -19 dBm0), the early media a network plays while the phone rings.
func (s *rtpStream) ringback(d time.Duration) {
	n := dtmf.Samples(d)
	amp := dtmf.DBm0ToAmplitude(-19)
	pcm := make([]int16, n)
	for i := range pcm {
		x := float64(i) / dtmf.SampleRate
		pcm[i] = int16(amp * (math.Sin(2*math.Pi*440*x) + math.Sin(2*math.Pi*480*x)))
	}
	s.pcm(pcm)
}

// event appends the RFC 4733 telephone-event packets of key held for d,
// with payload type pt, as dtmf.Sender produces them: one packet every
// 20 ms instead of audio, the last one (E bit) three times. Audio resumes
// at the timestamp the clock has reached.
func (s *rtpStream) event(key byte, d time.Duration, pt uint8) error {
	snd, err := dtmf.NewSender(dtmf.SenderConfig{})
	if err != nil {
		return err
	}
	if err := snd.Start(key, d, s.ts); err != nil {
		return err
	}
	for {
		p, ok := snd.Next()
		if !ok {
			break
		}
		s.add(pt, p.Marker, p.Timestamp, p.Payload)
		s.ts += frameSamples
	}
	return nil
}

// writePcap writes pkts to path as a classic pcap file (microsecond
// timestamps, Ethernet link type) of IPv4 UDP datagrams from
// 127.0.0.1:40000 to 127.0.0.1:40002. SIPp's play_pcap_audio replays the
// UDP payloads with the recorded timing, from its own media port to the
// address of the peer's SDP.
func writePcap(path string, pkts []rtpPacket) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = encodePcap(w, pkts)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// encodePcap writes the pcap file of pkts to w.
func encodePcap(w io.Writer, pkts []rtpPacket) error {
	var hdr [24]byte
	le := binary.LittleEndian
	le.PutUint32(hdr[0:], 0xa1b2c3d4) // microsecond resolution
	le.PutUint16(hdr[4:], 2)          // version 2.4
	le.PutUint16(hdr[6:], 4)
	// thiszone and sigfigs stay zero
	le.PutUint32(hdr[16:], 65535) // snaplen
	le.PutUint32(hdr[20:], 1)     // LINKTYPE_ETHERNET
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	const headers = 14 + 20 + 8 // Ethernet, IPv4, UDP
	buf := make([]byte, 16+headers+1500)
	for i, p := range pkts {
		n := headers + len(p.data)
		if n > 1500+14 {
			return fmt.Errorf("siptest: pcap packet %d too long (%d bytes)", i, len(p.data))
		}
		b := buf[:16+n]
		clear(b[:16+headers])
		le.PutUint32(b[0:], uint32(p.at/time.Second))
		le.PutUint32(b[4:], uint32(p.at%time.Second/time.Microsecond))
		le.PutUint32(b[8:], uint32(n))
		le.PutUint32(b[12:], uint32(n))
		eth := b[16:]
		binary.BigEndian.PutUint16(eth[12:], 0x0800) // IPv4; MAC addresses zero
		ip := eth[14:]
		ip[0] = 0x45 // version 4, 20-byte header
		binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(p.data)))
		binary.BigEndian.PutUint16(ip[4:], uint16(i)) // identification
		ip[8] = 64                                    // TTL
		ip[9] = 17                                    // UDP
		copy(ip[12:], []byte{127, 0, 0, 1})
		copy(ip[16:], []byte{127, 0, 0, 1})
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
		udp := ip[20:]
		binary.BigEndian.PutUint16(udp[0:], 40000)
		binary.BigEndian.PutUint16(udp[2:], 40002)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(p.data)))
		// checksum 0: none (IPv4); SIPp computes its own when it sends
		copy(udp[8:], p.data)
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// ipChecksum returns the IPv4 header checksum of h (whose checksum field
// is zero).
func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xFFFF {
		sum = sum&0xFFFF + sum>>16
	}
	return ^uint16(sum)
}
