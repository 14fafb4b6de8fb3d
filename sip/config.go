package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/sspr-project/sspr/sip/media"
)

// Config configures an Agent. Every duration's zero value means its
// default.
type Config struct {
	// Listen lists the local addresses to listen on, at most one per
	// transport. Zero means UDP on 127.0.0.1:5060.
	Listen []Listener
	// Advertise is the host (name or IP address) written into Via and
	// Contact, for an agent behind NAT. Zero means the host of the first
	// listener.
	Advertise string
	// Trunks are the trunks or PBXs calls go out through, tried in order.
	// At least one is required.
	Trunks []Trunk
	// UserAgent is the User-Agent header. Zero means "sspr".
	UserAgent string
	// RingTimeout is how long a phone may ring before the call is
	// cancelled. Zero means 40 s.
	RingTimeout time.Duration
	// TrunkTimeout is how long to wait for a trunk's first response to an
	// INVITE before trying the next trunk. Zero means 5 s.
	TrunkTimeout time.Duration
	// Media configures the RTP sessions of calls.
	Media media.Config
}

// Listener is one local SIP listening address.
type Listener struct {
	// Transport is "udp", "tcp" or "tls". Zero means "udp".
	Transport string
	// Addr is the host:port to listen on.
	Addr string
	// CertFile and KeyFile are the TLS listener's certificate and key.
	CertFile, KeyFile string
}

// Trunk is a SIP trunk or PBX that places calls.
type Trunk struct {
	// Name names the trunk in logs and metrics. Zero means "trunk1",
	// "trunk2", ... by position.
	Name string
	// Address is the trunk's host:port or SIP URI (sip:host:port or
	// sips:host). A URI's transport parameter sets Transport.
	Address string
	// Transport is "udp", "tcp" or "tls". Zero means the address's, or
	// "udp".
	Transport string
	// CAFile is a PEM file of the certificate authorities that sign the
	// trunk's TLS certificate. Zero means the system's.
	CAFile string
	// ServerName is the name the trunk's TLS certificate must carry. Zero
	// means the address's host.
	ServerName string
	// OutboundProxy, a host:port, is where requests are sent, leaving the
	// Request-URI on the trunk.
	OutboundProxy string
	// Username and Password answer the trunk's digest challenges.
	Username, Password string
	// Realm, when set, is the only realm whose challenges are answered.
	Realm string
	// FromUser and FromDomain make the From URI. Zero means Username (or
	// "sspr") and the trunk's host.
	FromUser, FromDomain string
	// CallerName and CallerNumber are the caller ID: the From display
	// name, and the From user when set.
	CallerName, CallerNumber string
	// Register, when true, keeps a registration with the trunk.
	Register bool
	// RegisterExpiry is the registration lifetime asked for. Zero means
	// 300 s.
	RegisterExpiry time.Duration
	// KeepAlive is how often the trunk is sent OPTIONS to check its
	// health. Zero means 30 s; negative means never (the trunk is then
	// taken as up).
	KeepAlive time.Duration
}

// trunk is a validated Trunk.
type trunk struct {
	Trunk
	uri       sipmsg.Uri // the trunk's address: calls go to number@host:port
	transport string     // "udp", "tcp" or "tls"
}

// listener is a validated Listener.
type listener struct {
	Listener
	host string
	port int
	tls  *tls.Config
}

// config is a validated Config with its defaults filled in.
type config struct {
	Config
	listeners []listener
	trunks    []trunk
}

// DefaultRingTimeout is how long a phone rings when Config.RingTimeout
// is zero.
const DefaultRingTimeout = 40 * time.Second

func (c Config) validate() (*config, error) {
	v := &config{Config: c}
	if v.UserAgent == "" {
		v.UserAgent = "sspr"
	}
	if v.RingTimeout == 0 {
		v.RingTimeout = DefaultRingTimeout
	}
	if v.TrunkTimeout == 0 {
		v.TrunkTimeout = 5 * time.Second
	}
	if v.RingTimeout < 0 || v.TrunkTimeout < 0 {
		return nil, errors.New("sip: Config.RingTimeout and TrunkTimeout must not be negative")
	}
	ls := c.Listen
	if len(ls) == 0 {
		ls = []Listener{{Transport: "udp", Addr: "127.0.0.1:5060"}}
	}
	seen := map[string]bool{}
	for i, l := range ls {
		if l.Transport == "" {
			l.Transport = "udp"
		}
		field := fmt.Sprintf("sip: Config.Listen[%d]", i)
		if l.Transport != "udp" && l.Transport != "tcp" && l.Transport != "tls" {
			return nil, fmt.Errorf("%s.Transport %q: want udp, tcp or tls", field, l.Transport)
		}
		if seen[l.Transport] {
			return nil, fmt.Errorf("%s: a second %s listener", field, l.Transport)
		}
		seen[l.Transport] = true
		host, port, err := splitHostPort(l.Addr)
		if err != nil {
			return nil, fmt.Errorf("%s.Addr: %w", field, err)
		}
		vl := listener{Listener: l, host: host, port: port}
		if l.Transport == "tls" {
			cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("%s.CertFile/KeyFile: %w", field, err)
			}
			vl.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		v.listeners = append(v.listeners, vl)
	}
	if v.Advertise == "" {
		v.Advertise = v.listeners[0].host
	}
	if len(c.Trunks) == 0 {
		return nil, errors.New("sip: Config.Trunks: at least one trunk is required")
	}
	names := map[string]bool{}
	for i, t := range c.Trunks {
		field := fmt.Sprintf("sip: Config.Trunks[%d]", i)
		if t.Name == "" {
			t.Name = "trunk" + strconv.Itoa(i+1)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("%s.Name %q: used twice", field, t.Name)
		}
		names[t.Name] = true
		vt, err := parseTrunk(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if t.OutboundProxy != "" {
			if _, _, err := splitHostPort(t.OutboundProxy); err != nil {
				return nil, fmt.Errorf("%s.OutboundProxy: %w", field, err)
			}
		}
		if t.Password != "" && t.Username == "" {
			return nil, fmt.Errorf("%s.Username: required with Password", field)
		}
		if t.RegisterExpiry == 0 {
			vt.RegisterExpiry = 300 * time.Second
		}
		if t.KeepAlive == 0 {
			vt.KeepAlive = 30 * time.Second
		}
		if vt.FromUser == "" {
			vt.FromUser = t.Username
		}
		if vt.FromUser == "" {
			vt.FromUser = "sspr"
		}
		if vt.FromDomain == "" {
			vt.FromDomain = vt.uri.Host
		}
		v.trunks = append(v.trunks, vt)
	}
	return v, nil
}

// parseTrunk reads a trunk's address and transport.
func parseTrunk(t Trunk) (trunk, error) {
	vt := trunk{Trunk: t}
	addr := strings.TrimSpace(t.Address)
	if addr == "" {
		return vt, errors.New("Address: required")
	}
	transport := strings.ToLower(t.Transport)
	if strings.HasPrefix(addr, "sip:") || strings.HasPrefix(addr, "sips:") {
		if err := sipmsg.ParseUri(addr, &vt.uri); err != nil {
			return vt, fmt.Errorf("Address %q: %w", addr, err)
		}
		if p, ok := vt.uri.UriParams.Get("transport"); ok && transport == "" {
			transport = strings.ToLower(p)
		}
		if vt.uri.Scheme == "sips" && transport == "" {
			transport = "tls"
		}
		vt.uri.User = ""
		vt.uri.UriParams = nil
		vt.uri.Headers = nil
	} else {
		host, port, err := splitHostPort(addr)
		if err != nil {
			return vt, fmt.Errorf("Address: %w", err)
		}
		vt.uri = sipmsg.Uri{Scheme: "sip", Host: host, Port: port}
	}
	if vt.uri.Host == "" {
		return vt, fmt.Errorf("Address %q: no host", addr)
	}
	if transport == "" {
		transport = "udp"
	}
	if transport != "udp" && transport != "tcp" && transport != "tls" {
		return vt, fmt.Errorf("Transport %q: want udp, tcp or tls", transport)
	}
	vt.transport = transport
	if vt.uri.Port == 0 {
		vt.uri.Port = 5060
		if transport == "tls" {
			vt.uri.Port = 5061
		}
	}
	return vt, nil
}

// splitHostPort splits host:port and checks the port.
func splitHostPort(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", s, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", s)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q: no host", s)
	}
	return host, port, nil
}
