package media

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Codec is a G.711 codec; its value is its static RTP payload type.
type Codec uint8

// The two codecs this package sends and receives.
const (
	// PCMU is G.711 µ-law, payload type 0.
	PCMU Codec = 0
	// PCMA is G.711 A-law, payload type 8.
	PCMA Codec = 8
)

// String returns "PCMU" or "PCMA".
func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return fmt.Sprintf("Codec(%d)", uint8(c))
}

// Negotiation is the outcome of the offer/answer.
type Negotiation struct {
	// Codec is the codec the session sends. It receives both codecs if the
	// far end listed both.
	Codec Codec
	// EventPT is the telephone-event payload type the session sends (the
	// far end's); zero if the far end did not negotiate telephone-event.
	EventPT uint8
	// Remote is the far end's RTP address from the SDP; invalid if the
	// SDP gave none usable (the session then latches).
	Remote netip.AddrPort
}

// Payload types and SDP limits.
const (
	// ptCN is the static payload type of comfort noise (RFC 3389).
	ptCN = 13
	// maxSDP bounds the SDP bodies parsed.
	maxSDP = 16 << 10
	// ptime is the packet time offered and sent, in ms.
	ptime = 20
)

// negotiation is what the session needs of the offer/answer.
type negotiation struct {
	send      Codec
	recvPCMU  bool // accept PCMU packets
	recvPCMA  bool // accept PCMA packets
	sendEvent uint8
	events    bool     // telephone-event negotiated
	recvEvent [2]uint8 // event payload types accepted (both may be equal)
	remote    netip.AddrPort
	usable    bool // remote is a usable unicast address
}

// remoteMedia is the first usable audio stream of an SDP body.
type remoteMedia struct {
	addr    netip.AddrPort
	usable  bool
	codecs  []Codec // G.711 payload types listed, in order
	eventPT uint8
	events  bool
}

// Offer returns the session's SDP offer: one audio stream on the session's
// port at AdvertiseIP, PCMU (0), PCMA (8) and telephone-event/8000
// (Config.EventPT, events 0-16), ptime 20, sendrecv. Every call returns the
// same offer.
func (s *Session) Offer() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offer == nil {
		ev := s.e.cfg.eventPT
		b, err := s.describe([]uint8{uint8(PCMU), uint8(PCMA), ev}, ev, true)
		if err != nil {
			return nil, err
		}
		s.offer = b
	}
	return bytes.Clone(s.offer), nil
}

// SetAnswer reads the far end's SDP answer to Offer: the remote RTP
// address (media-level c= first, then session-level), the codec to send
// (the first of PCMU and PCMA the answer lists), the telephone-event
// payload type to send (the answer's; packets with the offered one are
// accepted too). An answer without telephone-event means keys arrive
// in-band (or by INFO) only. An answer whose address is missing or
// unspecified makes the session latch. Call it before Start.
func (s *Session) SetAnswer(answer []byte) error {
	rm, err := parseMedia(answer)
	if err != nil {
		return err
	}
	if len(rm.codecs) == 0 {
		return fmt.Errorf("%w: the answer lists neither PCMU (0) nor PCMA (8)", ErrNoCodec)
	}
	n := negotiation{send: rm.codecs[0], remote: rm.addr, usable: rm.usable}
	for _, c := range rm.codecs {
		n.recvPCMU = n.recvPCMU || c == PCMU
		n.recvPCMA = n.recvPCMA || c == PCMA
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rm.events {
		n.events, n.sendEvent = true, rm.eventPT
		n.recvEvent = [2]uint8{rm.eventPT, s.e.cfg.eventPT}
	}
	return s.setNegotiation(n)
}

// AcceptOffer answers the far end's SDP offer (the answering role of the
// test softphone and the demo phone): it picks the first of PCMU and PCMA
// the offer lists and the offer's telephone-event payload type, and
// returns the answer. Call it before Start.
func (s *Session) AcceptOffer(offer []byte) (answer []byte, err error) {
	rm, err := parseMedia(offer)
	if err != nil {
		return nil, err
	}
	if len(rm.codecs) == 0 {
		return nil, fmt.Errorf("%w: the offer lists neither PCMU (0) nor PCMA (8)", ErrNoCodec)
	}
	n := negotiation{send: rm.codecs[0], remote: rm.addr, usable: rm.usable}
	n.recvPCMU, n.recvPCMA = n.send == PCMU, n.send == PCMA
	pts := []uint8{uint8(n.send)}
	if rm.events {
		n.events, n.sendEvent = true, rm.eventPT
		n.recvEvent = [2]uint8{rm.eventPT, rm.eventPT}
		pts = append(pts, rm.eventPT)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.describe(pts, n.sendEvent, n.events)
	if err != nil {
		return nil, err
	}
	if err := s.setNegotiation(n); err != nil {
		return nil, err
	}
	return b, nil
}

// Negotiated returns the outcome of SetAnswer or AcceptOffer; ok is false
// before either succeeded.
func (s *Session) Negotiated() (n Negotiation, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.negotiated {
		return Negotiation{}, false
	}
	n = Negotiation{Codec: s.neg.send}
	if s.neg.events {
		n.EventPT = s.neg.sendEvent
	}
	if s.neg.usable {
		n.Remote = s.neg.remote
	}
	return n, true
}

// setNegotiation stores n; s.mu is held.
func (s *Session) setNegotiation(n negotiation) error {
	if s.negotiated || s.started {
		return ErrNegotiated
	}
	s.neg, s.negotiated = n, true
	if n.usable {
		dst := n.remote
		s.dst.Store(&dst)
	}
	return nil
}

// describe builds an SDP body with one sendrecv audio stream of the given
// payload types on the session's port; s.mu is held.
func (s *Session) describe(pts []uint8, eventPT uint8, events bool) ([]byte, error) {
	adv := s.e.cfg.advertise
	addrType := "IP4"
	if adv.Is6() {
		addrType = "IP6"
	}
	formats := make([]string, len(pts))
	var attrs []sdp.Attribute
	for i, pt := range pts {
		formats[i] = strconv.Itoa(int(pt))
		switch {
		case pt == uint8(PCMU):
			attrs = append(attrs, sdp.NewAttribute("rtpmap", "0 PCMU/8000"))
		case pt == uint8(PCMA):
			attrs = append(attrs, sdp.NewAttribute("rtpmap", "8 PCMA/8000"))
		case events && pt == eventPT:
			attrs = append(attrs,
				sdp.NewAttribute("rtpmap", formats[i]+" telephone-event/8000"),
				sdp.NewAttribute("fmtp", formats[i]+" 0-16"))
		}
	}
	attrs = append(attrs,
		sdp.NewAttribute("ptime", strconv.Itoa(ptime)),
		sdp.NewPropertyAttribute("sendrecv"))
	d := sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: "sspr", SessionID: s.sdpID, SessionVersion: s.sdpID,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: adv.String(),
		},
		SessionName: "sspr",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: adv.String()},
		},
		TimeDescriptions: []sdp.TimeDescription{{}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{
				Media: "audio", Port: sdp.RangedPort{Value: int(s.local.Port())},
				Protos: []string{"RTP", "AVP"}, Formats: formats,
			},
			Attributes: attrs,
		}},
	}
	b, err := d.Marshal()
	if err != nil {
		return nil, fmt.Errorf("media: writing SDP: %w", err)
	}
	return b, nil
}

// parseMedia parses an SDP body and returns its first audio stream that is
// not rejected (port 0) and uses plain RTP (RTP/AVP or RTP/AVPF).
func parseMedia(body []byte) (remoteMedia, error) {
	if len(body) > maxSDP {
		return remoteMedia{}, fmt.Errorf("%w: %d bytes (the limit is %d)", ErrSDP, len(body), maxSDP)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return remoteMedia{}, fmt.Errorf("%w: empty body", ErrSDP)
	}
	if err := checkPorts(body); err != nil {
		return remoteMedia{}, err
	}
	var d sdp.SessionDescription
	if err := d.Unmarshal(body); err != nil {
		return remoteMedia{}, fmt.Errorf("%w: %v", ErrSDP, err)
	}
	audio, why := 0, ""
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		audio++
		switch {
		case md.MediaName.Port.Value == 0:
			why = "rejected (port 0)"
			continue
		case md.MediaName.Port.Range != nil && *md.MediaName.Port.Range != 1:
			return remoteMedia{}, fmt.Errorf("%w: audio port %d/%d (one port expected)",
				ErrBadPort, md.MediaName.Port.Value, *md.MediaName.Port.Range)
		case !plainRTP(md.MediaName.Protos):
			why = fmt.Sprintf("transport %s is not supported", strings.Join(md.MediaName.Protos, "/"))
			continue
		}
		return readMedia(&d, md)
	}
	if audio == 0 {
		return remoteMedia{}, fmt.Errorf("%w: no m=audio line", ErrNoAudio)
	}
	return remoteMedia{}, fmt.Errorf("%w: audio %s", ErrNoAudio, why)
}

// readMedia reads one audio stream.
func readMedia(d *sdp.SessionDescription, md *sdp.MediaDescription) (remoteMedia, error) {
	rm := remoteMedia{}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = d.ConnectionInformation
	}
	if ci != nil && ci.Address != nil {
		if ip, err := netip.ParseAddr(ci.Address.Address); err == nil {
			ip = ip.Unmap()
			rm.addr = netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value))
			rm.usable = ip.Zone() == "" && !ip.IsUnspecified() && !ip.IsMulticast()
		}
		// A host name is not resolved: the session latches instead.
	}
	rtpmap := map[uint8]string{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
		n, err := strconv.ParseUint(pt, 10, 7)
		if !ok || err != nil {
			return remoteMedia{}, fmt.Errorf("%w: bad a=rtpmap:%s", ErrSDP, clip(a.Value))
		}
		rtpmap[uint8(n)] = strings.ToLower(strings.TrimSpace(enc))
	}
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return remoteMedia{}, fmt.Errorf("%w: payload type %q is not a number from 0 to 127", ErrSDP, clip(f))
		}
		pt := uint8(n)
		enc, mapped := rtpmap[pt]
		switch {
		case pt == uint8(PCMU) && (!mapped || isEncoding(enc, "pcmu")):
			rm.codecs = appendCodec(rm.codecs, PCMU)
		case pt == uint8(PCMA) && (!mapped || isEncoding(enc, "pcma")):
			rm.codecs = appendCodec(rm.codecs, PCMA)
		case pt >= 96 && mapped && isEncoding(enc, "telephone-event") && !rm.events:
			rm.events, rm.eventPT = true, pt
		}
	}
	return rm, nil
}

// isEncoding reports whether an rtpmap encoding ("pcmu/8000", "pcmu/8000/1")
// is name at 8000 Hz, mono.
func isEncoding(enc, name string) bool {
	rest, ok := strings.CutPrefix(enc, name+"/8000")
	return ok && (rest == "" || rest == "/1")
}

// appendCodec appends c unless it is listed already.
func appendCodec(cs []Codec, c Codec) []Codec {
	for _, x := range cs {
		if x == c {
			return cs
		}
	}
	return append(cs, c)
}

// plainRTP reports whether protos is RTP/AVP or RTP/AVPF (no SRTP).
func plainRTP(protos []string) bool {
	return len(protos) == 2 && protos[0] == "RTP" && (protos[1] == "AVP" || protos[1] == "AVPF")
}

// checkPorts checks the port of every m= line before the SDP parser runs,
// so that a bad port gets ErrBadPort rather than a generic parse error.
func checkPorts(body []byte) error {
	for line := range bytes.Lines(body) {
		if !bytes.HasPrefix(line, []byte("m=")) {
			continue
		}
		f := strings.Fields(string(line[2:]))
		if len(f) < 2 {
			continue // the parser reports it
		}
		port, _, _ := strings.Cut(f[1], "/")
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || len(port) > 5 || n > 65535 {
			return fmt.Errorf("%w: %q", ErrBadPort, clip(f[1]))
		}
	}
	return nil
}

// clip shortens text quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
