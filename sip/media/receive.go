package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pion/rtp"
	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

// ptKind is what the receive path does with a payload type.
type ptKind uint8

const (
	kindNone ptKind = iota // not negotiated: dropped
	kindPCMU
	kindPCMA
	kindEvent
	kindCN
)

// rxState is the receive path's state, owned by the receive goroutine (or
// by the test calling handle).
type rxState struct {
	kinds      [128]ptKind
	inactivity time.Duration

	// Source check. A strict session accepts only src, from the SDP. A
	// latching one accepts, until locked, a first valid packet from
	// peerIP (any IP if invalid), then only that source.
	latching bool
	locked   bool
	src      netip.AddrPort
	peerIP   netip.Addr

	pkt     rtp.Packet
	pcm     [readBuffer]int16
	det     *dtmf.Detector
	evr     *dtmf.Receiver
	tones   []dtmf.Tone
	events  []dtmf.Event
	samples int64 // audio samples fed to det

	eventSeen bool  // an RFC 4733 key arrived: in-band detection is off
	toneSeen  bool  // toneStart is valid
	toneStart int64 // start of the last in-band key reported, in samples

	lastRx time.Time // last packet accepted
}

// init allocates what the receive path needs, once per session.
func (r *rxState) init(inactivity time.Duration) {
	var err error
	if r.det, err = dtmf.NewDetector(dtmf.DetectorConfig{}); err != nil {
		panic(err) // the zero config is valid
	}
	if r.evr, err = dtmf.NewReceiver(dtmf.ReceiverConfig{}); err != nil {
		panic(err)
	}
	r.tones = make([]dtmf.Tone, 0, 4)
	r.events = make([]dtmf.Event, 0, 8)
	r.pkt.CSRC = make([]uint32, 0, 15)
	r.inactivity = inactivity
}

// configure sets the payload types and the source check from the
// negotiation.
func (r *rxState) configure(n *negotiation, negotiated, latch bool, peerIP netip.Addr) {
	r.kinds = [128]ptKind{}
	if negotiated {
		if n.recvPCMU {
			r.kinds[PCMU] = kindPCMU
		}
		if n.recvPCMA {
			r.kinds[PCMA] = kindPCMA
		}
		r.kinds[ptCN] = kindCN
		if n.events {
			r.kinds[n.recvEvent[0]&0x7F] = kindEvent
			r.kinds[n.recvEvent[1]&0x7F] = kindEvent
		}
	}
	r.latching = latch || !n.usable
	r.src, r.locked = n.remote, !r.latching
	r.peerIP = peerIP
}

// run is the receive goroutine: it reads packets until Close or the
// inactivity timeout. The socket's read deadline is the earlier of the
// inactivity deadline and the RFC 4733 receiver's, moved earlier only when
// it must and refreshed when it expires, so it is not set per packet.
func (s *Session) run() {
	defer s.wg.Done()
	defer s.closeDigits()
	buf := make([]byte, readBuffer)
	r := &s.rx
	armed := r.deadline()
	_ = s.conn.SetReadDeadline(armed)
	errs := 0
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				r.events = r.evr.Expire(now, r.events[:0])
				if now.Sub(r.lastRx) >= r.inactivity {
					s.end(ErrMediaTimeout)
					return
				}
				armed = r.deadline()
				_ = s.conn.SetReadDeadline(armed)
				continue
			case errors.Is(err, net.ErrClosed) || s.ended():
				return
			}
			if errs++; errs >= maxReadErrors {
				s.end(fmt.Errorf("media: reading RTP: %w", err))
				return
			}
			continue
		}
		errs = 0
		s.handle(buf[:n], from, now)
		if d := r.deadline(); armed.Sub(d) > rearmSlack {
			armed = d
			_ = s.conn.SetReadDeadline(armed)
		}
	}
}

// deadline is when the receive goroutine must wake up if no packet comes.
func (r *rxState) deadline() time.Time {
	d := r.lastRx.Add(r.inactivity)
	if t, ok := r.evr.Deadline(); ok && t.Before(d) {
		d = t
	}
	return d
}

// handle processes one datagram received from from at now. It does not
// allocate once the session has latched (and the receiver's buffers have
// grown to what the peer sends).
func (s *Session) handle(b []byte, from netip.AddrPort, now time.Time) {
	s.c.received.Add(1)
	s.c.bytes.Add(uint64(len(b)))
	s.m.received.Inc()
	r := &s.rx
	if from.Addr().Is4In6() {
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	}
	if r.locked {
		if from != r.src {
			s.drop(dropSource)
			return
		}
	} else if r.peerIP.IsValid() && from.Addr() != r.peerIP {
		s.drop(dropSource)
		return
	}
	if !checkRTP(b) {
		s.drop(dropMalformed)
		return
	}
	if err := r.pkt.Unmarshal(b); err != nil {
		s.drop(dropMalformed)
		return
	}
	k := r.kinds[r.pkt.PayloadType]
	if k == kindNone {
		s.drop(dropPayloadType)
		return
	}
	if !r.locked {
		if k == kindCN {
			// Comfort noise is not negotiated media: it cannot latch.
			s.drop(dropSource)
			return
		}
		s.latch(from)
	}
	r.lastRx = now
	switch k {
	case kindPCMU, kindPCMA:
		s.audio(k, now)
	case kindEvent:
		s.event(now)
	case kindCN:
		s.c.cn.Add(1)
	}
}

// latch locks the session onto from.
func (s *Session) latch(from netip.AddrPort) {
	r := &s.rx
	r.src, r.locked = from, true
	p := &from
	s.src.Store(p)
	s.dst.Store(p)
}

// drop counts a dropped packet.
func (s *Session) drop(why dropReason) {
	s.c.dropped[why].Add(1)
	s.m.dropped[why].Inc()
}

// checkRTP reports whether b is a well-formed RTP version 2 packet as
// rtp.Packet.Unmarshal parses it: the CSRC list, the extension header and
// its one- or two-byte elements, and padding fit. Checking first keeps
// garbage from reaching Unmarshal, whose errors allocate.
func checkRTP(b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	n := 12 + 4*int(b[0]&0x0F)
	if len(b) < n {
		return false
	}
	if b[0]&0x10 != 0 {
		if len(b) < n+4 {
			return false
		}
		profile := binary.BigEndian.Uint16(b[n:])
		end := n + 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
		if len(b) < end || !checkExtensions(b[n+4:end], profile) {
			return false
		}
		n = end
	}
	if b[0]&0x20 != 0 {
		if len(b) <= n {
			return false
		}
		p := int(b[len(b)-1])
		if p == 0 || len(b)-p < n {
			return false
		}
	}
	return true
}

// checkExtensions checks the elements of an RFC 8285 header extension
// block the way rtp.Header.Unmarshal walks them.
func checkExtensions(ext []byte, profile uint16) bool {
	switch profile {
	case rtp.ExtensionProfileOneByte:
		for i := 0; i < len(ext); {
			if ext[i] == 0 {
				i++
				continue
			}
			id, l := ext[i]>>4, int(ext[i]&0x0F)+1
			i++
			if id == 0x0F || id == 0 {
				return true // reserved or padding ID: the parser stops here
			}
			if i+l > len(ext) {
				return false
			}
			i += l
		}
	case rtp.ExtensionProfileTwoByte:
		for i := 0; i < len(ext); {
			if ext[i] == 0 {
				i++
				continue
			}
			i++
			if i >= len(ext) {
				return false
			}
			l := int(ext[i])
			i++
			if i+l > len(ext) {
				return false
			}
			i += l
		}
	}
	return true
}

// audio feeds a G.711 packet to the in-band detector, unless an RFC 4733
// event has turned in-band detection off.
func (s *Session) audio(k ptKind, now time.Time) {
	s.c.audio.Add(1)
	r := &s.rx
	if r.eventSeen && s.onAudio == nil {
		return
	}
	pl := r.pkt.Payload
	for len(pl) > 0 {
		var n int
		if k == kindPCMU {
			n = g711.DecodeULawFrame(r.pcm[:], pl)
		} else {
			n = g711.DecodeALawFrame(r.pcm[:], pl)
		}
		pl = pl[n:]
		if s.onAudio != nil {
			s.onAudio(r.pcm[:n])
		}
		if r.eventSeen {
			continue
		}
		r.tones = r.det.Detect(r.pcm[:n], r.tones[:0])
		r.samples += int64(n)
		// A key is reported when the detector first confirms it, or, if
		// it started and ended within this frame, when it ends.
		for _, t := range r.tones {
			s.tone(t.Key, t.Start, now)
		}
		if key, start, ok := r.det.Active(); ok {
			s.tone(key, start, now)
		}
	}
}

// tone reports an in-band key once per start position.
func (s *Session) tone(key byte, start int64, now time.Time) {
	r := &s.rx
	if r.toneSeen && r.toneStart == start {
		return
	}
	r.toneSeen, r.toneStart = true, start
	s.emit(key, InBand, now, time.Duration(r.samples-start)*time.Second/dtmf.SampleRate)
}

// event feeds a telephone-event packet to the RFC 4733 receiver.
func (s *Session) event(now time.Time) {
	r := &s.rx
	h := &r.pkt.Header
	p := dtmf.Packet{SSRC: h.SSRC, SequenceNumber: h.SequenceNumber, Timestamp: h.Timestamp, Marker: h.Marker, Payload: r.pkt.Payload}
	evs, err := r.evr.Receive(p, now, r.events[:0])
	r.events = evs[:0]
	if err != nil {
		s.drop(dropMalformed)
		return
	}
	s.c.events.Add(1)
	for _, e := range evs {
		if !e.End {
			r.eventSeen = true
			s.emit(e.Key, RFC4733, now, time.Duration(e.Duration)*time.Second/dtmf.SampleRate)
		}
	}
}
