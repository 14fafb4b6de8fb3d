package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sspr-project/sspr/sip"
	"github.com/sspr-project/sspr/sip/media"
)

// fileConfig is the sspr configuration file (YAML). Secrets may be given
// as ${NAME} (an environment variable) or through a *_file key naming a
// file that holds them.
type fileConfig struct {
	SIP       sipConfig       `yaml:"sip"`
	IVR       ivrConfig       `yaml:"ivr"`
	Directory directoryConfig `yaml:"directory"`
}

// ivrConfig is the ivr section: what the verification call says and how
// long it waits.
type ivrConfig struct {
	// Prompts is a directory of recordings (<language>/<name>.wav) that
	// replace or add to the built-in prompts.
	Prompts           string        `yaml:"prompts"`
	Language          string        `yaml:"language"`
	FirstKeyTimeout   time.Duration `yaml:"first_key_timeout"`
	InterDigitTimeout time.Duration `yaml:"inter_digit_timeout"`
}

// sipConfig is the sip section: the user agent, its trunks and its media.
type sipConfig struct {
	Listen       []listenConfig `yaml:"listen"`
	Advertise    string         `yaml:"advertise"`
	UserAgent    string         `yaml:"user_agent"`
	RingTimeout  time.Duration  `yaml:"ring_timeout"`
	TrunkTimeout time.Duration  `yaml:"trunk_timeout"`
	Trunks       []trunkConfig  `yaml:"trunks"`
	Media        mediaConfig    `yaml:"media"`
}

type listenConfig struct {
	Transport string `yaml:"transport"`
	Addr      string `yaml:"addr"`
	CertFile  string `yaml:"cert_file"`
	KeyFile   string `yaml:"key_file"`
}

type trunkConfig struct {
	Name           string        `yaml:"name"`
	Address        string        `yaml:"address"`
	Transport      string        `yaml:"transport"`
	CAFile         string        `yaml:"ca_file"`
	ServerName     string        `yaml:"server_name"`
	OutboundProxy  string        `yaml:"outbound_proxy"`
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	PasswordFile   string        `yaml:"password_file"`
	Realm          string        `yaml:"realm"`
	FromUser       string        `yaml:"from_user"`
	FromDomain     string        `yaml:"from_domain"`
	CallerName     string        `yaml:"caller_name"`
	CallerNumber   string        `yaml:"caller_number"`
	Register       bool          `yaml:"register"`
	RegisterExpiry time.Duration `yaml:"register_expiry"`
	KeepAlive      time.Duration `yaml:"keepalive"`
}

type mediaConfig struct {
	BindIP      string        `yaml:"bind_ip"`
	AdvertiseIP string        `yaml:"advertise_ip"`
	PortMin     int           `yaml:"port_min"`
	PortMax     int           `yaml:"port_max"`
	EventPT     uint8         `yaml:"event_pt"`
	Inactivity  time.Duration `yaml:"inactivity"`
	Latch       bool          `yaml:"latch"`
}

// loadConfig reads and parses a configuration file. Unknown keys are
// errors, so that a misspelt setting is not silently ignored.
func loadConfig(name string) (*fileConfig, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return parseConfig(data)
}

func parseConfig(data []byte) (*fileConfig, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c fileConfig
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &c, nil
}

// expandSecret returns v with ${NAME} replaced by the environment
// variable NAME, or the trimmed content of file when v is empty.
func expandSecret(v, file, field string) (string, error) {
	if v != "" && file != "" {
		return "", fmt.Errorf("%s and %s_file are both set", field, field)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", field, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") {
		name := v[2 : len(v)-1]
		s, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("%s: environment variable %s is not set", field, name)
		}
		return s, nil
	}
	return v, nil
}

// sipConfig converts the sip section into the agent's configuration.
func (c *sipConfig) agentConfig() (sip.Config, error) {
	out := sip.Config{
		Advertise:    c.Advertise,
		UserAgent:    c.UserAgent,
		RingTimeout:  c.RingTimeout,
		TrunkTimeout: c.TrunkTimeout,
	}
	for _, l := range c.Listen {
		out.Listen = append(out.Listen, sip.Listener{Transport: l.Transport, Addr: l.Addr, CertFile: l.CertFile, KeyFile: l.KeyFile})
	}
	for i, t := range c.Trunks {
		pw, err := expandSecret(t.Password, t.PasswordFile, fmt.Sprintf("sip.trunks[%d].password", i))
		if err != nil {
			return out, err
		}
		out.Trunks = append(out.Trunks, sip.Trunk{
			Name: t.Name, Address: t.Address, Transport: t.Transport, CAFile: t.CAFile, ServerName: t.ServerName,
			OutboundProxy: t.OutboundProxy, Username: t.Username, Password: pw, Realm: t.Realm,
			FromUser: t.FromUser, FromDomain: t.FromDomain, CallerName: t.CallerName, CallerNumber: t.CallerNumber,
			Register: t.Register, RegisterExpiry: t.RegisterExpiry, KeepAlive: t.KeepAlive,
		})
	}
	m := media.Config{PortMin: c.Media.PortMin, PortMax: c.Media.PortMax, EventPT: c.Media.EventPT,
		Inactivity: c.Media.Inactivity, Latch: c.Media.Latch}
	for _, ip := range []struct {
		s    string
		dst  *netip.Addr
		name string
	}{{c.Media.BindIP, &m.BindIP, "bind_ip"}, {c.Media.AdvertiseIP, &m.AdvertiseIP, "advertise_ip"}} {
		if ip.s == "" {
			continue
		}
		a, err := netip.ParseAddr(ip.s)
		if err != nil {
			return out, fmt.Errorf("sip.media.%s: %w", ip.name, err)
		}
		*ip.dst = a
	}
	out.Media = m
	return out, nil
}
