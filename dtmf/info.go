package dtmf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by ParseInfo. The SIP layer answers 415 Unsupported Media
// Type to ErrUnsupportedType and 400 Bad Request to ErrMalformed.
var (
	// ErrUnsupportedType is returned for a Content-Type other than
	// application/dtmf-relay and application/dtmf.
	ErrUnsupportedType = errors.New("dtmf: unsupported INFO content type")
	// ErrMalformed is returned, wrapped with the detail, for a body that
	// cannot be parsed.
	ErrMalformed = errors.New("dtmf: malformed INFO body")
)

// SIP INFO limits and defaults.
const (
	// MaxInfoBody is the largest INFO body ParseInfo reads, in bytes; a
	// real one is under 40.
	MaxInfoBody = 1024
	// DefaultInfoDuration is the key duration when the body gives none.
	DefaultInfoDuration = 100 * time.Millisecond
	// MaxInfoDuration is the longest Duration accepted.
	MaxInfoDuration = 60 * time.Second
)

// Info is a key (or a hook flash) carried in a SIP INFO body.
type Info struct {
	// Key is the key, one of Keys; 0 for a flash or an empty body.
	Key byte
	// Duration is how long the key was held: the Duration line of
	// application/dtmf-relay, otherwise DefaultInfoDuration. Zero for an
	// empty body.
	Duration time.Duration
	// Flash is true for a hook flash (Signal=! or 16).
	Flash bool
}

// ParseInfo parses the body of a SIP INFO request carrying DTMF, in the
// legacy formats (no RFC 6086 Info-Package):
//
//   - application/dtmf-relay (Cisco): lines "Signal=5" and optionally
//     "Duration=160" (ms), split on CR or LF, names case-insensitive,
//     blanks around names and values ignored, unknown names ignored;
//   - application/dtmf: the bare signal, e.g. "5".
//
// A signal is a character 0-9 * # A-D a-d, '!' for a flash, or an event
// code 0-16 (10 is *, 11 is #, 12-15 are A-D, 16 is a flash). The media
// type is matched case-insensitively and its parameters are ignored.
//
// An empty (or blank) body returns Info{} and nil: it is answered 200 OK.
// An unknown content type returns ErrUnsupportedType; a bad body, or one
// over MaxInfoBody bytes, an error wrapping ErrMalformed.
func ParseInfo(contentType string, body []byte) (Info, error) {
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	relay := strings.EqualFold(mt, "application/dtmf-relay")
	if !relay && !strings.EqualFold(mt, "application/dtmf") {
		return Info{}, fmt.Errorf("%w: %q", ErrUnsupportedType, clipText(mt))
	}
	if len(body) > MaxInfoBody {
		return Info{}, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, len(body), MaxInfoBody)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Info{}, nil
	}
	if !relay {
		info, err := parseSignal(body)
		if err != nil {
			return Info{}, err
		}
		info.Duration = DefaultInfoDuration
		return info, nil
	}
	return parseRelay(body)
}

// parseRelay parses a non-empty application/dtmf-relay body.
func parseRelay(body []byte) (Info, error) {
	info, duration := Info{}, DefaultInfoDuration
	haveSignal, haveDur := false, false
	for rest := body; len(rest) > 0; {
		line := rest
		if i := bytes.IndexAny(rest, "\r\n"); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = trimBlank(line)
		if len(line) == 0 {
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			return Info{}, fmt.Errorf("%w: line %q has no '='", ErrMalformed, clipText(string(line)))
		}
		name, value := trimBlank(line[:eq]), trimBlank(line[eq+1:])
		switch {
		case bytes.EqualFold(name, []byte("signal")):
			if haveSignal {
				return Info{}, fmt.Errorf("%w: two Signal lines", ErrMalformed)
			}
			haveSignal = true
			s, err := parseSignal(value)
			if err != nil {
				return Info{}, err
			}
			info = s
		case bytes.EqualFold(name, []byte("duration")):
			if haveDur {
				return Info{}, fmt.Errorf("%w: two Duration lines", ErrMalformed)
			}
			haveDur = true
			ms, ok := parseDecimal(value, int(MaxInfoDuration/time.Millisecond))
			if !ok {
				return Info{}, fmt.Errorf("%w: Duration %q is not a number of ms from 0 to %d",
					ErrMalformed, clipText(string(value)), MaxInfoDuration/time.Millisecond)
			}
			duration = time.Duration(ms) * time.Millisecond
		}
	}
	if !haveSignal {
		return Info{}, fmt.Errorf("%w: no Signal line", ErrMalformed)
	}
	info.Duration = duration
	return info, nil
}

// parseSignal parses a signal: a key character, '!' or an event code 0-16.
func parseSignal(v []byte) (Info, error) {
	if len(v) == 1 {
		c := v[0]
		if c >= 'a' && c <= 'd' {
			c -= 'a' - 'A'
		}
		if c == '!' {
			return Info{Flash: true}, nil
		}
		if ValidKey(c) {
			return Info{Key: c}, nil
		}
	}
	if code, ok := parseDecimal(v, 16); ok {
		if code == 16 {
			return Info{Flash: true}, nil
		}
		key, _ := EventKey(uint8(code))
		return Info{Key: key}, nil
	}
	return Info{}, fmt.Errorf("%w: signal %q is not a key, '!' or a code from 0 to 16", ErrMalformed, clipText(string(v)))
}

// parseDecimal parses a non-empty string of ASCII digits no greater than
// max.
func parseDecimal(v []byte, max int) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > max {
			return 0, false
		}
	}
	return n, true
}

// trimBlank removes spaces and tabs at both ends.
func trimBlank(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// clipText shortens untrusted text quoted in an error message.
func clipText(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
