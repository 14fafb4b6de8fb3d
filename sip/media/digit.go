package media

import (
	"fmt"
	"time"
)

// Method is how a key reached the session.
type Method uint8

// The three methods. Their String values label metrics.
const (
	// RFC4733 is a telephone-event in RTP.
	RFC4733 Method = iota
	// InBand is a tone in the call's audio, found by the Goertzel
	// detector.
	InBand
	// Info is a SIP INFO request, passed in by the SIP layer.
	Info
	numMethods
)

var methodNames = [numMethods]string{"rfc4733", "inband", "info"}

// String returns "rfc4733", "inband" or "info".
func (m Method) String() string {
	if m < numMethods {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// Digit is a key the far end pressed, delivered once whichever way (or
// ways) it arrived.
type Digit struct {
	// Key is one of dtmf.Keys: '0'-'9', '*', '#', 'A'-'D'.
	Key byte
	// Method is how the key arrived first.
	Method Method
	// At is when the session received it: the packet that started the
	// event or confirmed the tone, or the InfoDigit call.
	At time.Time
	// Duration is how long the key had been held when it was reported:
	// the event's duration so far (RFC 4733, usually one packet interval
	// or zero), the tone's length when the detector confirmed it (in-band,
	// about 40 ms), or the duration the INFO body gave.
	Duration time.Duration
}

// String formats the digit for logs without its key, which may be part of
// a PIN: "key (rfc4733, 20ms)". Read Key to see the key.
func (d Digit) String() string {
	return fmt.Sprintf("key (%v, %v)", d.Method, d.Duration)
}
