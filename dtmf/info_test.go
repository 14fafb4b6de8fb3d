package dtmf

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	infoRelay = "application/dtmf-relay"
	infoBare  = "application/dtmf"
)

func TestParseInfo(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		ct   string
		body string
		want Info
		err  error // nil, ErrUnsupportedType or ErrMalformed
	}{
		// application/dtmf-relay
		{"relay: SIPp / Cisco style", infoRelay, "Signal=#\r\nDuration=160\r\n", Info{Key: '#', Duration: 160 * ms}, nil},
		{"relay: LF only", infoRelay, "Signal=5\nDuration=250\n", Info{Key: '5', Duration: 250 * ms}, nil},
		{"relay: CR only", infoRelay, "Signal=5\rDuration=250", Info{Key: '5', Duration: 250 * ms}, nil},
		{"relay: no Duration: 100 ms", infoRelay, "Signal=*\r\n", Info{Key: '*', Duration: 100 * ms}, nil},
		{"relay: Duration first", infoRelay, "Duration=90\r\nSignal=0", Info{Key: '0', Duration: 90 * ms}, nil},
		{"relay: names case-insensitive", infoRelay, "SIGNAL=1\r\nduration=40", Info{Key: '1', Duration: 40 * ms}, nil},
		{"relay: blanks around = and values", infoRelay, "  Signal \t=  9 \r\n Duration =\t 120\t\r\n", Info{Key: '9', Duration: 120 * ms}, nil},
		{"relay: blank lines", infoRelay, "\r\n\r\nSignal=2\r\n\r\n\r\nDuration=100\r\n\r\n", Info{Key: '2', Duration: 100 * ms}, nil},
		{"relay: lower-case key", infoRelay, "Signal=d\r\n", Info{Key: 'D', Duration: 100 * ms}, nil},
		{"relay: upper-case key", infoRelay, "Signal=B\r\n", Info{Key: 'B', Duration: 100 * ms}, nil},
		{"relay: code 10 is *", infoRelay, "Signal=10\r\n", Info{Key: '*', Duration: 100 * ms}, nil},
		{"relay: code 11 is #", infoRelay, "Signal=11", Info{Key: '#', Duration: 100 * ms}, nil},
		{"relay: code 12 is A", infoRelay, "Signal=12", Info{Key: 'A', Duration: 100 * ms}, nil},
		{"relay: code 15 is D", infoRelay, "Signal=15", Info{Key: 'D', Duration: 100 * ms}, nil},
		{"relay: code with a leading zero", infoRelay, "Signal=07", Info{Key: '7', Duration: 100 * ms}, nil},
		{"relay: ! is a flash", infoRelay, "Signal=!\r\nDuration=500", Info{Flash: true, Duration: 500 * ms}, nil},
		{"relay: code 16 is a flash", infoRelay, "Signal=16", Info{Flash: true, Duration: 100 * ms}, nil},
		{"relay: unknown names ignored", infoRelay, "Signal=3\r\nVolume=10\r\nX-Foo=bar", Info{Key: '3', Duration: 100 * ms}, nil},
		{"relay: Duration 0", infoRelay, "Signal=3\r\nDuration=0", Info{Key: '3'}, nil},
		{"relay: Duration 60 s", infoRelay, "Signal=3\r\nDuration=60000", Info{Key: '3', Duration: time.Minute}, nil},
		{"relay: empty body", infoRelay, "", Info{}, nil},
		{"relay: blank body", infoRelay, " \r\n\t\r\n", Info{}, nil},
		{"relay: no Signal", infoRelay, "Duration=160\r\n", Info{}, ErrMalformed},
		{"relay: empty Signal", infoRelay, "Signal=\r\n", Info{}, ErrMalformed},
		{"relay: Signal not a key", infoRelay, "Signal=E", Info{}, ErrMalformed},
		{"relay: Signal code 17", infoRelay, "Signal=17", Info{}, ErrMalformed},
		{"relay: Signal two keys", infoRelay, "Signal=12#", Info{}, ErrMalformed},
		{"relay: Signal negative", infoRelay, "Signal=-1", Info{}, ErrMalformed},
		{"relay: two Signal lines", infoRelay, "Signal=1\r\nSignal=2", Info{}, ErrMalformed},
		{"relay: two Duration lines", infoRelay, "Signal=1\r\nDuration=1\r\nDuration=2", Info{}, ErrMalformed},
		{"relay: line without =", infoRelay, "Signal=1\r\nhello", Info{}, ErrMalformed},
		{"relay: Duration not a number", infoRelay, "Signal=1\r\nDuration=abc", Info{}, ErrMalformed},
		{"relay: Duration with a unit", infoRelay, "Signal=1\r\nDuration=160ms", Info{}, ErrMalformed},
		{"relay: Duration empty", infoRelay, "Signal=1\r\nDuration=", Info{}, ErrMalformed},
		{"relay: Duration over 60 s", infoRelay, "Signal=1\r\nDuration=60001", Info{}, ErrMalformed},
		{"relay: Duration overflowing int64", infoRelay, "Signal=1\r\nDuration=99999999999999999999999", Info{}, ErrMalformed},
		{"relay: Duration negative", infoRelay, "Signal=1\r\nDuration=-160", Info{}, ErrMalformed},
		{"relay: body over 1 KiB", infoRelay, "Signal=1\r\n" + strings.Repeat(" ", MaxInfoBody), Info{}, ErrMalformed},

		// application/dtmf
		{"bare: digit", infoBare, "5", Info{Key: '5', Duration: 100 * ms}, nil},
		{"bare: #", infoBare, "#", Info{Key: '#', Duration: 100 * ms}, nil},
		{"bare: code 11", infoBare, "11", Info{Key: '#', Duration: 100 * ms}, nil},
		{"bare: lower-case", infoBare, "a", Info{Key: 'A', Duration: 100 * ms}, nil},
		{"bare: surrounding whitespace", infoBare, " \r\n 7\r\n", Info{Key: '7', Duration: 100 * ms}, nil},
		{"bare: flash", infoBare, "!", Info{Flash: true, Duration: 100 * ms}, nil},
		{"bare: empty", infoBare, "", Info{}, nil},
		{"bare: relay syntax", infoBare, "Signal=5", Info{}, ErrMalformed},
		{"bare: two keys", infoBare, "5 6", Info{}, ErrMalformed},
		{"bare: code 99", infoBare, "99", Info{}, ErrMalformed},

		// Content-Type
		{"type: upper case", "Application/DTMF-Relay", "Signal=4", Info{Key: '4', Duration: 100 * ms}, nil},
		{"type: parameters and blanks", " application/dtmf-relay ; charset=UTF-8", "Signal=4", Info{Key: '4', Duration: 100 * ms}, nil},
		{"type: bare with parameter", "application/dtmf;x=y", "4", Info{Key: '4', Duration: 100 * ms}, nil},
		{"type: binary telephone-event", "audio/telephone-event", "\x05\x0a\x00\xa0", Info{}, ErrUnsupportedType},
		{"type: SDP", "application/sdp", "Signal=4", Info{}, ErrUnsupportedType},
		{"type: empty", "", "Signal=4", Info{}, ErrUnsupportedType},
		{"type: prefix only", "application/dtmf-relayx", "Signal=4", Info{}, ErrUnsupportedType},
		{"type: unsupported even with an empty body", "text/plain", "", Info{}, ErrUnsupportedType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInfo(tc.ct, []byte(tc.body))
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("ParseInfo(%q, %q) error %v, want %v", tc.ct, tc.body, err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("ParseInfo(%q, %q) = %+v, want %+v", tc.ct, tc.body, got, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "dtmf: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestParseInfoErrorDetail checks that malformed errors say what is wrong
// and keep untrusted text short.
func TestParseInfoErrorDetail(t *testing.T) {
	_, err := ParseInfo(infoRelay, []byte("Signal="+strings.Repeat("x", 500)))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "signal") || len(err.Error()) > 200 {
		t.Fatalf("error %q", err)
	}
	_, err = ParseInfo(strings.Repeat("y", 500), nil)
	if !errors.Is(err, ErrUnsupportedType) || len(err.Error()) > 200 {
		t.Fatalf("error %q", err)
	}
}

func FuzzParseInfo(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{infoRelay, "Signal=#\r\nDuration=160\r\n"},
		{infoRelay, "signal = 11\nduration= 250"},
		{infoRelay, "Signal=!\r\n"},
		{infoRelay, "Duration=60000\r\nSignal=d"},
		{infoBare, " 5 "},
		{infoBare, "16"},
		{"APPLICATION/DTMF; charset=x", "a"},
		{"audio/telephone-event", "\x05\x0a\x00\xa0"},
		{infoRelay, ""},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		info, err := ParseInfo(ct, body)
		if err != nil {
			if info != (Info{}) {
				t.Fatalf("error %v with %+v", err, info)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedType) {
				t.Fatalf("error %v is neither sentinel", err)
			}
			return
		}
		if info.Key != 0 && !ValidKey(info.Key) {
			t.Fatalf("invalid key %q", info.Key)
		}
		if info.Key != 0 && info.Flash {
			t.Fatalf("key and flash: %+v", info)
		}
		if info.Duration < 0 || info.Duration > MaxInfoDuration {
			t.Fatalf("duration %v", info.Duration)
		}
		if info.Key == 0 && !info.Flash && info.Duration != 0 {
			t.Fatalf("duration without a signal: %+v", info)
		}
	})
}

func BenchmarkParseInfo(b *testing.B) {
	body := []byte("Signal=#\r\nDuration=160\r\n")
	b.ReportAllocs()
	for b.Loop() {
		info, err := ParseInfo("application/dtmf-relay", body)
		if err != nil || info.Key != '#' {
			b.Fatal(info, err)
		}
	}
}
