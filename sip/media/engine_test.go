package media

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string // a field name the error must contain; "" for valid
		check   func(c config) bool
	}{
		{name: "defaults", cfg: Config{AdvertiseIP: netip.MustParseAddr("192.0.2.1")}, check: func(c config) bool {
			return c.bind == netip.IPv4Unspecified() && c.portMin == 20000 && c.portMax == 29998 &&
				c.eventPT == 101 && c.inactivity == 10*time.Second && c.pacing == defaultPacing
		}},
		{name: "advertise defaults to bind", cfg: Config{BindIP: loopback}, check: func(c config) bool {
			return c.advertise == loopback
		}},
		{name: "odd bounds rounded inward", cfg: Config{BindIP: loopback, PortMin: 5001, PortMax: 5005}, check: func(c config) bool {
			return c.portMin == 5002 && c.portMax == 5004
		}},
		{name: "nothing to advertise", cfg: Config{}, wantErr: "Config.AdvertiseIP"},
		{name: "unspecified advertise", cfg: Config{BindIP: loopback, AdvertiseIP: netip.IPv4Unspecified()}, wantErr: "Config.AdvertiseIP"},
		{name: "multicast bind", cfg: Config{BindIP: netip.MustParseAddr("224.0.0.1")}, wantErr: "Config.BindIP"},
		{name: "port range empty", cfg: Config{BindIP: loopback, PortMin: 5001, PortMax: 5001}, wantErr: "Config.PortMin"},
		{name: "port too big", cfg: Config{BindIP: loopback, PortMax: 70000}, wantErr: "Config.PortMax"},
		{name: "negative port", cfg: Config{BindIP: loopback, PortMin: -2}, wantErr: "Config.PortMin"},
		{name: "static event PT", cfg: Config{BindIP: loopback, EventPT: 8}, wantErr: "Config.EventPT"},
		{name: "negative inactivity", cfg: Config{BindIP: loopback, Inactivity: -time.Second}, wantErr: "Config.Inactivity"},
		{name: "bad pacing", cfg: Config{BindIP: loopback, Pacing: 9}, wantErr: "Config.Pacing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.cfg.validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("validate: %v, want an error naming %s", err, tc.wantErr)
				}
				if _, err := NewEngine(tc.cfg, nil); err == nil {
					t.Fatal("NewEngine accepted it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestPortPool(t *testing.T) {
	// Six even ports; another process holds the second.
	base := freePortBlock(t, 11)
	cfg := Config{BindIP: loopback, PortMin: base, PortMax: base + 10}
	e, _ := newEngine(t, cfg)
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + 2})
	if err != nil {
		t.Fatalf("port %d was free a moment ago: %v", base+2, err)
	}
	defer other.Close()
	var ss []*Session
	var ports []uint16
	for range 5 {
		s, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
		ports = append(ports, s.LocalAddr().Port())
	}
	b := uint16(base)
	want := []uint16{b, b + 4, b + 6, b + 8, b + 10}
	for i := range want {
		if ports[i] != want[i] {
			t.Fatalf("ports %v, want %v (even, rotating, %d skipped)", ports, want, base+2)
		}
	}
	if _, err := e.Open(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("Open with the range full: %v, want ErrNoPorts", err)
	}
	// Released ports are reused in rotation order, from where the last
	// search stopped (after base+2, which the full-range Open tried).
	_ = ss[0].Close()
	_ = ss[0].Close()
	_ = ss[2].Close()
	s, err := e.Open()
	if err != nil {
		t.Fatal(err)
	}
	if p := s.LocalAddr().Port(); p != b+6 {
		t.Fatalf("reopened on %d, want %d", p, b+6)
	}
	s2, err := e.Open()
	if err != nil {
		t.Fatal(err)
	}
	if p := s2.LocalAddr().Port(); p != b {
		t.Fatalf("reopened on %d, want %d (the rotation wrapped)", p, b)
	}
	for _, s := range append(ss, s, s2) {
		_ = s.Close()
	}
}

func TestOpenBindError(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is not a local address.
	e, _ := newEngine(t, Config{BindIP: netip.MustParseAddr("192.0.2.1"), PortMin: 44200, PortMax: 44210})
	if _, err := e.Open(); err == nil || errors.Is(err, ErrNoPorts) {
		t.Fatalf("Open on a foreign address: %v, want the bind error", err)
	}
	// And the ports went back to the pool.
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, used := range e.inUse {
		if used {
			t.Fatalf("port slot %d still reserved", i)
		}
	}
}

// freePortBlock returns the first port of n consecutive UDP ports on
// loopback that are free now, searching 44100-59999.
func freePortBlock(t *testing.T, n int) int {
	t.Helper()
	for base := 44100; base+n < 60000; base += 2 * n {
		free := true
		for p := base; p < base+n && free; p++ {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				free = false
				continue
			}
			c.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free block of UDP ports on loopback")
	return 0
}
