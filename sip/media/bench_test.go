package media

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

// BenchmarkHandle measures the receive path per packet, without the
// socket: source check, RTP parse, payload-type demux, then G.711 decode
// and the Goertzel detector, or the RFC 4733 receiver.
func BenchmarkHandle(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	frames := func(pcm []int16) [][]byte {
		var out [][]byte
		f := make([]byte, frameSamples)
		for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
			g711.EncodeULawFrame(f, pcm[i:i+frameSamples])
			out = append(out, packet(b, 0, false, uint16(i), uint32(i), f))
		}
		return out
	}
	speechLike := make([]int16, 50*frameSamples) // noise at about -20 dBm0
	for i := range speechLike {
		speechLike[i] = int16((i*7919)%6001 - 3000)
	}
	cases := []struct {
		name  string
		pkts  [][]byte
		from  func(i int) bool // true: from the far end
		setup func(s *Session)
	}{
		{name: "audio-silence", pkts: frames(make([]int16, 50*frameSamples))},
		{name: "audio-noise", pkts: frames(speechLike)},
		{name: "audio-tones", pkts: frames(tones(b, "1234567890*#", 100*time.Millisecond, 100*time.Millisecond, 0))},
		// After the first RFC 4733 event, in-band detection is skipped.
		{name: "audio-after-event", pkts: frames(speechLike), setup: func(s *Session) { s.rx.eventSeen = true }},
		{name: "event", pkts: eventPackets(b, "1234567890*#ABCD")},
		{name: "spoofed", pkts: eventPackets(b, "1234"), from: func(int) bool { return false }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := handleSession(b, e, false)
			if tc.setup != nil {
				tc.setup(s)
			}
			now := time.Unix(1e9, 0)
			// Warm up: latch-free strict session, grow the buffers.
			for _, p := range tc.pkts {
				s.handle(p, legit, now)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				// Keep the digit channel from filling: the send path is
				// part of the cost, the overflow path is not.
				if len(s.digits) > digitBuffer/2 {
					b.StopTimer()
					for len(s.digits) > 0 {
						<-s.digits
					}
					b.StartTimer()
				}
				from := legit
				if tc.from != nil && !tc.from(i) {
					from = spoof
				}
				now = now.Add(frameDur)
				s.handle(tc.pkts[i%len(tc.pkts)], from, now)
			}
		})
	}
}

// BenchmarkEmit measures delivering one digit through the de-duplication
// (a mutex, a look at 3 timestamps, a channel send).
func BenchmarkEmit(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	s := open(b, e)
	now := time.Unix(1e9, 0)
	b.ReportAllocs()
	for range b.N {
		now = now.Add(dedupWindow)
		s.emit('5', RFC4733, now, 0)
		<-s.digits
	}
}

// BenchmarkWrite measures sending one RTP packet on loopback (the
// sendto system call dominates).
func BenchmarkWrite(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	s, _ := negotiated(b, e, "0")
	frame := make([]byte, frameSamples)
	b.ReportAllocs()
	for i := range b.N {
		if err := s.write(0, false, uint32(i*frameSamples), frame); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	loadSessions = flag.Int("media.sessions", 1000, "sessions in BenchmarkPacing")
	loadSeconds  = flag.Duration("media.duration", 3*time.Second, "how long each session plays in BenchmarkPacing")
)

// BenchmarkPacing runs -media.sessions sessions on loopback, each playing
// 20 ms PCMU frames for -media.duration to one sink socket that does not
// read (the kernel drops what overflows its buffer), and reports the
// process's CPU time (user + system, from getrusage) per session-second
// of audio, for each pacing strategy. The "dry" runs answer with 0.0.0.0,
// so that nothing latches and each frame is paced, encoded and counted
// but not written: the cost of pacing alone, without the sendto system
// call. Run it alone, with -benchtime=1x:
//
//	go test -run - -bench Pacing -benchtime 1x ./sip/media
func BenchmarkPacing(b *testing.B) {
	for _, mode := range []string{"send", "dry"} {
		for _, p := range pacings {
			b.Run(mode+"/"+p.String(), func(b *testing.B) {
				for range b.N {
					cpu, frames, under := runLoad(b, p, *loadSessions, *loadSeconds, mode == "dry")
					sessSec := float64(*loadSessions) * loadSeconds.Seconds()
					b.ReportMetric(cpu.Seconds()/sessSec*1e3, "cpu-ms/session-s")
					b.ReportMetric(float64(frames)/sessSec, "frames/session-s")
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(frames), "cpu-ns/frame")
					b.ReportMetric(float64(under), "underruns")
				}
			})
		}
	}
}

// runLoad plays n sessions for d and returns the CPU time used while they
// played, the frames sent (or, dry, paced but not written) and the
// underruns.
func runLoad(b *testing.B, p Pacing, n int, d time.Duration, dry bool) (cpu time.Duration, frames, under uint64) {
	b.Helper()
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	_ = sink.SetReadBuffer(1 << 16)
	cfg := Config{BindIP: loopback, PortMin: 30000, PortMax: 39998, Pacing: p}
	e, _ := newEngine(b, cfg)
	to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	if dry {
		to = netip.AddrPortFrom(netip.IPv4Unspecified(), to.Port())
	}
	answer := sdpBody(to, "0")
	ss := make([]*Session, n)
	for i := range ss {
		s, err := e.Open()
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if err := s.SetAnswer(answer); err != nil {
			b.Fatal(err)
		}
		ss[i] = s
	}
	audio := make([]byte, int(d/frameDur)*frameSamples)
	var wg sync.WaitGroup
	b.ResetTimer()
	before := rusage(b)
	start := time.Now()
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the starts over one frame, as calls would be.
			time.Sleep(time.Duration(i) * frameDur / time.Duration(n))
			if err := s.Play(context.Background(), bytes.NewReader(audio), dtmf.EncodingULaw); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	cpu = rusage(b) - before
	b.StopTimer()
	if el := time.Since(start); el > d+time.Second {
		b.Errorf("playing %v took %v", d, el)
	}
	for _, s := range ss {
		st := s.Stats()
		frames += st.Sent + st.Unsent
		under += st.Underruns
	}
	return cpu, frames, under
}

// rusage returns the process's user plus system CPU time.
func rusage(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
