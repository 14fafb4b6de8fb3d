package siptest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestPcapFormat reads back a generated pcap and checks every header.
func TestPcapFormat(t *testing.T) {
	st := newStream(codecPCMU)
	st.silence(40 * time.Millisecond)
	if err := st.event('5', 60*time.Millisecond, 101); err != nil {
		t.Fatal(err)
	}
	st.silence(20 * time.Millisecond)
	path := filepath.Join(t.TempDir(), "x.pcap")
	if err := writePcap(path, st.pkts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le, be := binary.LittleEndian, binary.BigEndian
	if len(b) < 24 || le.Uint32(b) != 0xa1b2c3d4 || le.Uint16(b[4:]) != 2 || le.Uint16(b[6:]) != 4 || le.Uint32(b[20:]) != 1 {
		t.Fatalf("bad global header % x", b[:min(24, len(b))])
	}
	b = b[24:]
	// 2 audio, 3 updates + 2 more end copies, 1 audio
	wantPT := []uint8{0, 0, 101, 101, 101, 101, 101, 0}
	for i := 0; len(b) > 0; i++ {
		if len(b) < 16 || i >= len(wantPT) {
			t.Fatalf("packet %d: %d bytes left", i, len(b))
		}
		at := time.Duration(le.Uint32(b))*time.Second + time.Duration(le.Uint32(b[4:]))*time.Microsecond
		incl, orig := int(le.Uint32(b[8:])), int(le.Uint32(b[12:]))
		if at != time.Duration(i)*frameTime || incl != orig || len(b) < 16+incl {
			t.Fatalf("packet %d: time %v, lengths %d/%d", i, at, incl, orig)
		}
		f := b[16 : 16+incl]
		b = b[16+incl:]
		ip, udp, rtp := f[14:34], f[34:42], f[42:]
		if be.Uint16(f[12:]) != 0x0800 || ip[0] != 0x45 || ip[9] != 17 || int(be.Uint16(ip[2:])) != incl-14 {
			t.Errorf("packet %d: bad Ethernet/IPv4 header % x", i, f[:34])
		}
		if ipChecksum(ip) != 0 {
			t.Errorf("packet %d: IPv4 header checksum does not verify", i)
		}
		if int(be.Uint16(udp[4:])) != 8+len(rtp) {
			t.Errorf("packet %d: UDP length %d, want %d", i, be.Uint16(udp[4:]), 8+len(rtp))
		}
		p, ok := parseRTP(rtp)
		if !ok || p.pt != wantPT[i] || p.ssrc != st.ssrc {
			t.Errorf("packet %d: RTP %+v, want PT %d", i, p, wantPT[i])
		}
		if wantLen := map[bool]int{true: 4, false: 160}[p.pt == 101]; len(p.payload) != wantLen {
			t.Errorf("packet %d: payload %d bytes, want %d", i, len(p.payload), wantLen)
		}
		if p.pt == 101 && p.marker != (i == 2) {
			t.Errorf("packet %d: marker %v", i, p.marker)
		}
	}
}

func TestParseStats(t *testing.T) {
	csv := "StartTime;CurrentCall;TotalCallCreated;SuccessfulCall(C);FailedCall(C);\n" +
		"t0;0;0;0;0;\n" +
		"t1;1;3;1;1;\n"
	st, err := parseStats([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != 1 || st.Created != 3 || st.Successful != 1 || st.Failed != 1 || st.Fields["StartTime"] != "t1" {
		t.Errorf("got %+v", st)
	}
	if _, err := parseStats([]byte("StartTime;CurrentCall\n")); err == nil {
		t.Error("no data line: no error")
	}
}

func TestUASValidation(t *testing.T) {
	cases := []struct {
		name string
		uas  UAS
		want string // in the error; "" for valid
	}{
		{"zero value", UAS{}, ""},
		{"all keys", UAS{Digits: "0123456789*#ABCD"}, ""},
		{"bad mode", UAS{Mode: "ringing"}, "Mode"},
		{"bad key", UAS{Digits: "12x"}, "Digits"},
		{"lower-case key", UAS{Mode: Info, Digits: "a"}, "Digits"},
		{"static event PT", UAS{EventPT: 8}, "EventPT"},
		{"odd digit duration", UAS{DigitDuration: 50 * time.Millisecond}, "DigitDuration"},
		{"negative delay", UAS{Delay: -time.Second}, "Delay"},
		{"bad user", UAS{User: "a@b"}, "User"},
		{"quote in password", UAS{Mode: Auth, Password: `a"b`}, "Password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.uas.scenario()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestKamailioConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  KamailioConfig
		want string
	}{
		{"zero value", KamailioConfig{}, ""},
		{"routes", KamailioConfig{Routes: map[string]string{"+15551234567": "sip:dtmf@127.0.0.1:20000"}, Default: "sip:127.0.0.1:20000"}, ""},
		{"quote in password", KamailioConfig{Users: map[string]string{"u": `p"`}}, "Users"},
		{"empty password", KamailioConfig{Users: map[string]string{"u": ""}}, "Users"},
		{"bad user", KamailioConfig{Users: map[string]string{"u@x": "p"}}, "Users"},
		{"bad route", KamailioConfig{Routes: map[string]string{"x": "tel:123"}}, "Routes"},
		{"bad default", KamailioConfig{Default: "127.0.0.1:5060"}, "Default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.cfg.data(20000, "/usr/lib/x86_64-linux-gnu/kamailio/modules")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
			if err == nil {
				if err := d.write(filepath.Join(t.TempDir(), "k.cfg")); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// fatalTB records the message of Fatalf and ends the goroutine, as
// testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinaryFails(t *testing.T) {
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		lookBinary(tb, "siptest-no-such-program", "/nonexistent/siptest", "some-package")
		t.Error("lookBinary returned for a missing program")
	}()
	<-done
	if !strings.Contains(tb.msg, "make test-deps") || !strings.Contains(tb.msg, "some-package") {
		t.Errorf("message %q does not say how to install the program", tb.msg)
	}
}

func TestPortBlock(t *testing.T) {
	seen := map[int]bool{}
	for range 5 {
		base := PortBlock(t)
		if base < portFirst || base+BlockSize-1 > portLast || (base-portFirst)%BlockSize != 0 || seen[base] {
			t.Fatalf("block %d: out of range, unaligned or given twice", base)
		}
		seen[base] = true
	}
}

func TestReadNetstring(t *testing.T) {
	r := bufio.NewReader(strings.NewReader(`5:hello,0:,3:abc`))
	for _, want := range []string{"hello", ""} {
		got, err := readNetstring(r)
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if _, err := readNetstring(r); err == nil {
		t.Error("truncated netstring: no error")
	}
	for _, bad := range []string{"x:abc,", "-1:,", "3:abcd", "99999999999:"} {
		if _, err := readNetstring(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzReadNetstring(f *testing.F) {
	f.Add([]byte(`47:{"event":true,"type":"CALL_ESTABLISHED","x":1},`))
	f.Add([]byte(`3:abc,`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for range 100 {
			msg, err := readNetstring(r)
			if err != nil {
				return
			}
			if len(msg) > maxNetstring {
				t.Fatalf("message of %d bytes", len(msg))
			}
		}
	})
}
