package media

import (
	"fmt"
	"net/netip"
	"time"
)

// Defaults of Config.
const (
	// DefaultPortMin and DefaultPortMax bound the default RTP port range.
	DefaultPortMin = 20000
	DefaultPortMax = 29998
	// DefaultEventPT is the telephone-event payload type offered.
	DefaultEventPT = 101
	// DefaultInactivity is how long the far end may stay silent (no RTP
	// at all) before the session ends with ErrMediaTimeout.
	DefaultInactivity = 10 * time.Second
)

// Pacing selects how sessions time the frames they send.
type Pacing uint8

// The pacing strategies. Both send each frame at an absolute deadline
// (start + k·20 ms), so neither drifts; they differ in CPU cost at scale.
const (
	// PacingDefault is whichever of the two measured cheaper (see the
	// package documentation): PacingShared.
	PacingDefault Pacing = iota
	// PacingPerCall gives each Play its own timer: the playing goroutine
	// sleeps until each frame's deadline and writes the frame itself.
	PacingPerCall
	// PacingShared runs, per Engine, one pacer goroutine per processor
	// (sessions spread by port) that writes its playing sessions' frames
	// from a deadline heap, waking once for all frames due within a
	// millisecond. Play reads and encodes the audio ahead into a small
	// ring and sleeps until the ring runs low.
	PacingShared
)

// String returns "default", "per-call" or "shared".
func (p Pacing) String() string {
	switch p {
	case PacingDefault:
		return "default"
	case PacingPerCall:
		return "per-call"
	case PacingShared:
		return "shared"
	}
	return fmt.Sprintf("Pacing(%d)", uint8(p))
}

// Config configures an Engine. The zero value binds 0.0.0.0 and needs
// AdvertiseIP; every other field has a default.
type Config struct {
	// BindIP is the local address the RTP sockets bind to. The zero value
	// means the unspecified IPv4 address 0.0.0.0 (every interface); an
	// IPv6 address binds IPv6 sockets.
	BindIP netip.Addr
	// AdvertiseIP is the address written in the SDP c= line, for when
	// the engine sits behind NAT. The zero value means BindIP; it is an
	// error if both are unspecified (nothing usable to advertise).
	AdvertiseIP netip.Addr
	// PortMin and PortMax bound the UDP ports the RTP sockets use; only
	// even ports are used (RFC 3550 §11). Zero means DefaultPortMin and
	// DefaultPortMax (20000-29998). The range must hold an even port.
	PortMin, PortMax int
	// EventPT is the RTP payload type offered for telephone-event
	// (RFC 4733), a dynamic type from 96 to 127. Zero means 101.
	EventPT uint8
	// Inactivity ends a session (Err returns ErrMediaTimeout) when no RTP
	// at all has been accepted from the far end for this long, counted
	// from Start. Zero means DefaultInactivity (10 s); negative is an
	// error.
	Inactivity time.Duration
	// Latch turns on symmetric RTP even when the SDP address is usable:
	// the session locks onto the first valid RTP source (from the
	// signalling peer's IP if Session.SetPeerIP was called) and then
	// drops every other source. Sessions latch anyway when the SDP gives
	// no usable address (missing, 0.0.0.0 or ::, a host name).
	Latch bool
	// Pacing chooses how sent frames are timed. Zero means PacingDefault.
	Pacing Pacing
}

// config is a validated Config with its defaults filled in.
type config struct {
	bind, advertise  netip.Addr
	portMin, portMax int // even, portMin <= portMax
	eventPT          uint8
	inactivity       time.Duration
	latch            bool
	pacing           Pacing
}

// validate checks cfg and fills in the defaults.
func (cfg Config) validate() (config, error) {
	c := config{
		bind: cfg.BindIP.Unmap(), advertise: cfg.AdvertiseIP.Unmap(),
		portMin: cfg.PortMin, portMax: cfg.PortMax,
		eventPT: cfg.EventPT, inactivity: cfg.Inactivity,
		latch: cfg.Latch, pacing: cfg.Pacing,
	}
	if !c.bind.IsValid() {
		c.bind = netip.IPv4Unspecified()
	}
	if c.bind.Zone() != "" {
		return config{}, fmt.Errorf("media: Config.BindIP %v has a zone; use a global address", c.bind)
	}
	if c.bind.IsMulticast() {
		return config{}, fmt.Errorf("media: Config.BindIP %v is a multicast address", c.bind)
	}
	if !c.advertise.IsValid() {
		c.advertise = c.bind
	}
	if c.advertise.IsUnspecified() {
		return config{}, fmt.Errorf("media: Config.AdvertiseIP is needed when Config.BindIP (%v) is unspecified", c.bind)
	}
	if c.advertise.IsMulticast() || c.advertise.Zone() != "" {
		return config{}, fmt.Errorf("media: Config.AdvertiseIP %v is not a unicast address without a zone", c.advertise)
	}
	if c.portMin == 0 {
		c.portMin = DefaultPortMin
	}
	if c.portMax == 0 {
		c.portMax = DefaultPortMax
	}
	switch {
	case c.portMin < 1 || c.portMin > 65535:
		return config{}, fmt.Errorf("media: Config.PortMin %d is outside 1-65535", cfg.PortMin)
	case c.portMax < 1 || c.portMax > 65535:
		return config{}, fmt.Errorf("media: Config.PortMax %d is outside 1-65535", cfg.PortMax)
	}
	c.portMin += c.portMin & 1 // first even port
	c.portMax -= c.portMax & 1 // last even port
	if c.portMin > c.portMax {
		return config{}, fmt.Errorf("media: Config.PortMin %d to Config.PortMax %d holds no even port", cfg.PortMin, cfg.PortMax)
	}
	if c.eventPT == 0 {
		c.eventPT = DefaultEventPT
	}
	if c.eventPT < 96 || c.eventPT > 127 {
		return config{}, fmt.Errorf("media: Config.EventPT %d is not a dynamic payload type (96-127)", cfg.EventPT)
	}
	if c.inactivity < 0 {
		return config{}, fmt.Errorf("media: Config.Inactivity %v is negative", cfg.Inactivity)
	}
	if c.inactivity == 0 {
		c.inactivity = DefaultInactivity
	}
	if c.pacing > PacingShared {
		return config{}, fmt.Errorf("media: Config.Pacing %d is not a Pacing", uint8(cfg.Pacing))
	}
	if c.pacing == PacingDefault {
		c.pacing = defaultPacing
	}
	return c, nil
}
