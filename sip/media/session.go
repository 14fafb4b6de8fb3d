package media

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

// Errors of the package. Errors about an SDP body wrap ErrSDP, ErrNoAudio,
// ErrNoCodec or ErrBadPort with the detail.
var (
	// ErrMediaTimeout is the session's Err when no RTP was accepted from
	// the far end for Config.Inactivity.
	ErrMediaTimeout = errors.New("media: no RTP from the far end")
	// ErrClosed is returned by Play and SendDigits when the session was
	// closed while (or before) they ran.
	ErrClosed = errors.New("media: session closed")
	// ErrNoPorts is returned by Open when every port of the range is in
	// use.
	ErrNoPorts = errors.New("media: no free RTP port")
	// ErrSDP is wrapped by errors for SDP that does not parse, and SDP
	// the session cannot use for another reason than those below.
	ErrSDP = errors.New("media: malformed SDP")
	// ErrNoAudio: the SDP has no audio stream this package can use (none,
	// rejected with port 0, or not plain RTP/AVP).
	ErrNoAudio = errors.New("media: no usable audio stream in SDP")
	// ErrNoCodec: the SDP lists neither PCMU nor PCMA (of those offered).
	ErrNoCodec = errors.New("media: no common codec")
	// ErrBadPort: an m= line's port is not a number from 0 to 65535, or
	// the audio stream gives a port count.
	ErrBadPort = errors.New("media: bad port in SDP")
	// ErrNegotiated is returned by SetAnswer and AcceptOffer when the
	// session already negotiated, or has started.
	ErrNegotiated = errors.New("media: SDP already negotiated")
	// ErrNotNegotiated is returned by Play and SendDigits before
	// SetAnswer or AcceptOffer succeeded.
	ErrNotNegotiated = errors.New("media: SDP not negotiated")
	// ErrNoEvents is returned by SendDigits(RFC4733) when the far end did
	// not negotiate telephone-event, and for the Info method.
	ErrNoEvents = errors.New("media: telephone-event not negotiated")
)

// Receive path constants.
const (
	// dedupWindow: a key that arrived by one method is suppressed if the
	// same key arrived by another method this recently.
	dedupWindow = 200 * time.Millisecond
	// digitBuffer is the capacity of the Digits channel.
	digitBuffer = 16
	// readBuffer is the receive buffer: larger than any RTP packet a
	// telephone peer sends (1500-byte MTU).
	readBuffer = 2048
	// rearmSlack: the read deadline is moved earlier only when the new
	// one is earlier by more than this, so it is set at most every 100 ms
	// and not per packet.
	rearmSlack = 100 * time.Millisecond
	// maxReadErrors ends the session after this many consecutive read
	// errors that are neither timeouts nor a close.
	maxReadErrors = 100
)

// Session is one call's RTP stream: a UDP socket, the SDP offer/answer, a
// receive goroutine that turns the far end's RTP into digits, and the
// sending of prompts and digits.
//
// Set-up methods (Offer, SetAnswer or AcceptOffer, SetPeerIP) come before
// Start; Play, SendDigits, InfoDigit, Digits, Stats and Close may be called
// from any goroutine at any time after Open. Close ends everything.
type Session struct {
	e     *Engine
	m     *metrics
	conn  *net.UDPConn
	port  int
	local netip.AddrPort

	// onAudio, set before Start, receives the decoded audio of every
	// accepted packet on the receive goroutine.
	onAudio func(pcm []int16)

	mu         sync.Mutex // guards the set-up state below
	neg        negotiation
	negotiated bool
	started    bool
	peerIP     netip.Addr
	sdpID      uint64
	offer      []byte // cached, so that repeated offers are identical

	rx rxState // owned by the receive goroutine once started

	// src is the far end's accepted RTP source: the SDP address for a
	// strict session, the latched one otherwise (nil until then). dst is
	// where frames go: the SDP address if usable, else (or once latched,
	// with Config.Latch) the latched source.
	src, dst atomic.Pointer[netip.AddrPort]

	sendSem chan struct{} // one Play or SendDigits at a time
	tx      txState       // owned by the holder of sendSem
	st      *stream       // the shared pacer's stream (PacingShared only)

	dmu     sync.Mutex // guards the digit merge below
	digits  chan Digit
	dclosed bool
	seen    [16][numMethods]time.Time // by key index, method: last arrival

	done    chan struct{}
	endOnce sync.Once
	err     error // written before done is closed
	close   sync.Once
	wg      sync.WaitGroup

	c counters
}

// counters are the session's statistics, updated atomically.
type counters struct {
	received, bytes       atomic.Uint64
	dropped               [numDropReasons]atomic.Uint64
	audio, events, cn     atomic.Uint64
	digits, dup, overflow atomic.Uint64
	sent, sentBytes       atomic.Uint64
	sendErrors, unsent    atomic.Uint64
	underruns             atomic.Uint64
}

// Stats is a snapshot of a session's counters.
type Stats struct {
	// Received counts the UDP datagrams read on the session's port, and
	// Bytes their size; dropped packets included.
	Received, Bytes uint64
	// DroppedSource counts packets from anywhere but the negotiated or
	// latched far end; DroppedMalformed packets that are not RTP v2 or
	// carry a malformed telephone-event; DroppedPayloadType packets of a
	// payload type not negotiated.
	DroppedSource, DroppedMalformed, DroppedPayloadType uint64
	// Audio, Events and ComfortNoise count the accepted packets by kind.
	Audio, Events, ComfortNoise uint64
	// Digits counts keys delivered on the Digits channel; Duplicates
	// keys suppressed because another method delivered them within
	// 200 ms; Overflow keys lost because the channel was full.
	Digits, Duplicates, Overflow uint64
	// Sent counts RTP packets sent and SentBytes their size. SendErrors
	// counts failed writes; Unsent frames that had nowhere to go (the SDP
	// address was unusable and nothing was latched yet).
	Sent, SentBytes, SendErrors, Unsent uint64
	// Underruns counts 20 ms slots the shared pacer found no frame for
	// (the audio reader was too slow); each leaves a gap in the audio.
	Underruns uint64
	// Source is the far end's accepted RTP address; invalid until known.
	Source netip.AddrPort
	// Latched reports whether Source was learnt from the first packet
	// (symmetric RTP) rather than taken from the SDP.
	Latched bool
}

// newSession wraps a bound socket.
func newSession(e *Engine, conn *net.UDPConn, port int) *Session {
	s := &Session{
		e: e, m: e.m, conn: conn, port: port,
		local:   netip.AddrPortFrom(e.cfg.bind, uint16(port)),
		sdpID:   rand.Uint64N(1 << 62),
		sendSem: make(chan struct{}, 1),
		digits:  make(chan Digit, digitBuffer),
		done:    make(chan struct{}),
	}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		s.local = netip.AddrPortFrom(s.local.Addr(), uint16(a.Port))
	}
	s.tx.init()
	s.rx.init(e.cfg.inactivity)
	if e.cfg.pacing == PacingShared {
		s.st = newStream(s, e.pacers[(port/2)%len(e.pacers)])
	}
	s.m.active.Inc()
	return s
}

// LocalAddr returns the address and port the session's socket is bound to
// (the bind address, which may be unspecified, not the advertised one).
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// SetPeerIP gives the IP address of the SIP signalling peer. A session that
// latches then accepts only a first packet from that IP. The SIP layer
// should call it only when media is expected from the signalling address
// (a phone or a PBX, not a trunk whose media comes from elsewhere). Call it
// before Start; later calls have no effect.
func (s *Session) SetPeerIP(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.peerIP = ip.Unmap()
	}
}

// OnAudio sets f to receive the far end's audio, decoded to 8 kHz PCM,
// packet by packet, on the session's receive goroutine: to record it, or
// to forward it (the demo phone plays it in the browser). f must not keep
// pcm after it returns, nor block. Call it before Start; later calls are
// ignored.
func (s *Session) OnAudio(f func(pcm []int16)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.onAudio = f
	}
}

// Start starts the receive goroutine and the inactivity timer. Call it
// after SetAnswer or AcceptOffer; a session started before negotiating
// drops every packet and times out. Later calls, and calls after Close,
// do nothing.
func (s *Session) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.ended() {
		return
	}
	s.arm(time.Now())
	s.wg.Add(1)
	go s.run()
}

// arm prepares the receive path from the negotiation; s.mu is held. Tests
// call it instead of Start to drive handle directly.
func (s *Session) arm(now time.Time) {
	s.started = true
	s.rx.configure(&s.neg, s.negotiated, s.e.cfg.latch, s.peerIP)
	if s.negotiated && !s.rx.latching {
		src := s.neg.remote
		s.src.Store(&src)
	}
	s.rx.lastRx = now
}

// Digits returns the session's stream of keys: RFC 4733 events, in-band
// tones and InfoDigit keys merged, each key once. It is buffered (16 keys;
// a key that finds it full is dropped and counted) and closed when the
// session ends (Done).
func (s *Session) Digits() <-chan Digit { return s.digits }

// InfoDigit merges a key received in a SIP INFO request into the Digits
// stream, d being the duration the body gave. Characters that are not keys
// (a flash) are ignored.
func (s *Session) InfoDigit(key byte, d time.Duration) {
	if !dtmf.ValidKey(key) {
		return
	}
	s.emit(key, Info, time.Now(), d)
}

// emit delivers a key unless the same key arrived by another method within
// the de-duplication window.
func (s *Session) emit(key byte, m Method, at time.Time, d time.Duration) {
	ki := strings.IndexByte(dtmf.Keys, key)
	if ki < 0 {
		return
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.dclosed {
		return
	}
	seen := &s.seen[ki]
	dup := false
	for o := range numMethods {
		if o != m && !seen[o].IsZero() && at.Sub(seen[o]) < dedupWindow {
			dup = true
		}
	}
	seen[m] = at
	if dup {
		s.c.dup.Add(1)
		s.m.suppressed[suppressDuplicate].Inc()
		return
	}
	select {
	case s.digits <- Digit{Key: key, Method: m, At: at, Duration: d}:
		s.c.digits.Add(1)
		s.m.digits[m].Inc()
	default:
		s.c.overflow.Add(1)
		s.m.suppressed[suppressOverflow].Inc()
	}
}

// closeDigits closes the Digits channel once.
func (s *Session) closeDigits() {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if !s.dclosed {
		s.dclosed = true
		close(s.digits)
	}
}

// Done is closed when the session ends: Close, or the inactivity timeout.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns ErrMediaTimeout if the far end stopped sending, an error
// wrapping the read error if the socket failed, and nil otherwise (open,
// or closed by Close).
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// ended reports whether Done is closed.
func (s *Session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// end ends the session with err (nil for Close).
func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}

// endErr is what Play and SendDigits return once the session ended.
func (s *Session) endErr() error {
	if err := s.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// Close ends the session: it stops the receive goroutine and any frame the
// shared pacer would send, closes the socket, closes Digits and returns the
// port to the pool. A Play or SendDigits in progress returns ErrClosed. It
// is idempotent and always returns nil.
func (s *Session) Close() error {
	s.close.Do(func() {
		s.end(nil)
		if s.st != nil {
			s.st.p.remove(s.st)
		}
		_ = s.conn.Close()
		s.wg.Wait()
		s.closeDigits()
		s.e.release(s.port)
		s.m.active.Dec()
	})
	return nil
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	c := &s.c
	st := Stats{
		Received: c.received.Load(), Bytes: c.bytes.Load(),
		DroppedSource:      c.dropped[dropSource].Load(),
		DroppedMalformed:   c.dropped[dropMalformed].Load(),
		DroppedPayloadType: c.dropped[dropPayloadType].Load(),
		Audio:              c.audio.Load(), Events: c.events.Load(), ComfortNoise: c.cn.Load(),
		Digits: c.digits.Load(), Duplicates: c.dup.Load(), Overflow: c.overflow.Load(),
		Sent: c.sent.Load(), SentBytes: c.sentBytes.Load(),
		SendErrors: c.sendErrors.Load(), Unsent: c.unsent.Load(),
		Underruns: c.underruns.Load(),
	}
	if p := s.src.Load(); p != nil {
		st.Source = *p
		s.mu.Lock()
		st.Latched = s.rx.latching
		s.mu.Unlock()
	}
	return st
}
