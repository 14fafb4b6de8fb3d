package media

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testConfig is a loopback configuration on a port range of its own.
func testConfig() Config {
	return Config{BindIP: loopback, PortMin: 42000, PortMax: 43998}
}

// newEngine returns an engine on a fresh registry.
func newEngine(t testing.TB, cfg Config) (*Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := NewEngine(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return e, reg
}

// open opens a session that is closed when the test ends.
func open(t testing.TB, e *Engine) *Session {
	t.Helper()
	s, err := e.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// peer is the far end of a test call: a plain UDP socket on loopback that
// sends RTP with pion/rtp and records what it receives.
type peer struct {
	t     testing.TB
	conn  *net.UDPConn
	addr  netip.AddrPort
	to    netip.AddrPort // the session's port
	hdr   rtp.Header
	clock uint32 // audio timestamp

	mu   sync.Mutex
	got  []received
	wg   sync.WaitGroup
	stop chan struct{}
}

// received is a packet the peer got.
type received struct {
	at  time.Time
	pkt rtp.Packet
	raw []byte
}

// newPeer binds a peer on ip (loopback if invalid) sending to s.
func newPeer(t testing.TB, ip netip.Addr, s *Session) *peer {
	t.Helper()
	if !ip.IsValid() {
		ip = loopback
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{
		t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(),
		hdr:  rtp.Header{Version: 2, SSRC: 0x5EED1234, SequenceNumber: 65530, Timestamp: 4294967000},
		stop: make(chan struct{}),
	}
	if s != nil {
		p.to = netip.AddrPortFrom(loopback, s.LocalAddr().Port())
	}
	t.Cleanup(p.close)
	return p
}

func (p *peer) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	_ = p.conn.Close()
	p.wg.Wait()
}

// answer returns an SDP answer from this peer: c= its address, the given
// m= formats and attribute lines.
func (p *peer) answer(formats string, attrs ...string) []byte {
	return sdpBody(p.addr, formats, attrs...)
}

// sdpBody builds a minimal SDP body.
func sdpBody(at netip.AddrPort, formats string, attrs ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "v=0\r\no=peer 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n",
		at.Addr(), at.Addr(), at.Port(), formats)
	for _, a := range attrs {
		b.WriteString("a=" + a + "\r\n")
	}
	return b.Bytes()
}

// send writes one RTP packet to the session.
func (p *peer) send(pt uint8, marker bool, ts uint32, payload []byte) {
	p.t.Helper()
	h := p.hdr
	h.PayloadType, h.Marker, h.Timestamp = pt, marker, ts
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, p.to); err != nil && !errors.Is(err, net.ErrClosed) {
		p.t.Error(err)
	}
	p.hdr.SequenceNumber++
}

// sendAudio sends pcm as 20 ms G.711 frames of codec c, paced at interval
// (0: no pacing), advancing the audio clock.
func (p *peer) sendAudio(c Codec, pcm []int16, interval time.Duration) {
	frame := make([]byte, frameSamples)
	for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
		if c == PCMU {
			g711.EncodeULawFrame(frame, pcm[i:i+frameSamples])
		} else {
			g711.EncodeALawFrame(frame, pcm[i:i+frameSamples])
		}
		p.send(uint8(c), i == 0, p.clock, frame)
		p.clock += frameSamples
		if interval > 0 {
			time.Sleep(interval)
		}
	}
}

// sendKey sends one key as RFC 4733 events from dtmf.Sender with payload
// type pt at the audio clock; skip drops the first skip packets (lost).
func (p *peer) sendKey(pt uint8, key byte, d time.Duration, skip int, interval time.Duration) {
	p.t.Helper()
	s, err := dtmf.NewSender(dtmf.SenderConfig{})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := s.Start(key, d, p.clock); err != nil {
		p.t.Fatal(err)
	}
	for i := 0; ; i++ {
		pk, ok := s.Next()
		if !ok {
			break
		}
		if i >= skip {
			p.send(pt, pk.Marker, pk.Timestamp, pk.Payload)
		} else {
			p.hdr.SequenceNumber++
		}
		if interval > 0 {
			time.Sleep(interval)
		}
	}
	p.clock += uint32(d / tickDur)
}

// record starts recording what the peer receives.
func (p *peer) record() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 2048)
		for {
			n, err := p.conn.Read(buf)
			if err != nil {
				return
			}
			at := time.Now()
			raw := bytes.Clone(buf[:n])
			var pk rtp.Packet
			if err := pk.Unmarshal(raw); err != nil {
				continue
			}
			p.mu.Lock()
			p.got = append(p.got, received{at: at, pkt: pk, raw: raw})
			p.mu.Unlock()
		}
	}()
}

// packets returns what the peer received so far.
func (p *peer) packets() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.got...)
}

// waitPackets waits until the peer received n packets.
func (p *peer) waitPackets(n int, timeout time.Duration) []received {
	p.t.Helper()
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if got := p.packets(); len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := p.packets()
	p.t.Fatalf("peer received %d packets, want %d", len(got), n)
	return nil
}

// collect reads digits until none arrives for quiet or max is reached.
func collect(s *Session, quiet time.Duration) []Digit {
	var ds []Digit
	for {
		select {
		case d, ok := <-s.Digits():
			if !ok {
				return ds
			}
			ds = append(ds, d)
		case <-time.After(quiet):
			return ds
		}
	}
}

// keysOf returns the keys of ds.
func keysOf(ds []Digit) string {
	b := make([]byte, len(ds))
	for i, d := range ds {
		b[i] = d.Key
	}
	return string(b)
}

// tones returns keys as PCM: each key on for on, then off of silence,
// after lead of silence.
func tones(t testing.TB, keys string, on, off, lead time.Duration) []int16 {
	t.Helper()
	pcm := make([]int16, dtmf.Samples(lead))
	pcm, err := dtmf.AppendTones(pcm, keys, dtmf.ToneConfig{On: on, Off: off})
	if err != nil {
		t.Fatal(err)
	}
	// Whole frames only.
	if r := len(pcm) % frameSamples; r != 0 {
		pcm = append(pcm, make([]int16, frameSamples-r)...)
	}
	return pcm
}

// negotiated opens a session, answers its offer from a new peer with the
// given formats and attributes, and starts it.
func negotiated(t testing.TB, e *Engine, formats string, attrs ...string) (*Session, *peer) {
	t.Helper()
	s := open(t, e)
	if _, err := s.Offer(); err != nil {
		t.Fatal(err)
	}
	p := newPeer(t, netip.Addr{}, s)
	if err := s.SetAnswer(p.answer(formats, attrs...)); err != nil {
		t.Fatal(err)
	}
	s.Start()
	return s, p
}
