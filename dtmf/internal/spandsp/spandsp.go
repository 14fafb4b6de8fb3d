//go:build spandsp

package spandsp

/*
#cgo pkg-config: spandsp
#include <stdint.h>
#include <stdlib.h>
#include <spandsp.h>

// chunkSamples bounds the audio fed to dtmf_rx between two drains of its
// digit buffer (MAX_DTMF_DIGITS = 128). A key needs two 102-sample blocks,
// so a chunk holds at most chunkSamples/204+1 = 81 keys.
enum { chunkSamples = 160 * 102 };

// sspr_dtmf_rx feeds n samples and copies the keys found into out, which has
// room for max bytes including the terminating NUL that dtmf_rx_get
// always writes. It returns the number of keys copied. Keys that do not
// fit stay in spandsp's buffer for the next call.
static size_t sspr_dtmf_rx(dtmf_rx_state_t *s, const int16_t *amp, size_t n, char *out, size_t max) {
	size_t got = 0;
	while (n > 0) {
		size_t k = n < chunkSamples ? n : chunkSamples;
		dtmf_rx(s, amp, (int) k);
		amp += k;
		n -= k;
		got += dtmf_rx_get(s, out + got, (int) (max - 1 - got));
	}
	return got;
}
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Defaults of spandsp 0.0.6, as [Detector.SetParams] takes them.
const (
	// DefaultTwist is the largest accepted level of the high-group tone
	// below the low-group one, in dB (spandsp's "normal" twist).
	DefaultTwist = 8
	// DefaultReverseTwist is the largest accepted level of the high-group
	// tone above the low-group one, in dB.
	DefaultReverseTwist = 4
	// DefaultThreshold is the lowest accepted level of each tone, in dBm0.
	DefaultThreshold = -42
)

// keys is the DTMF keypad; one-key results are slices of it, so that the
// common case allocates nothing.
const keys = "123A456B789C*0#D"

// initMu serialises dtmf_rx_init: its first call fills spandsp's static
// Goertzel tables without a lock.
var initMu sync.Mutex

// Detector is one spandsp DTMF receiver. Its state lives in C memory that
// [Detector.Close] frees (or the garbage collector, if Close is never
// called). A Detector is not safe for concurrent use.
type Detector struct {
	s       *C.dtmf_rx_state_t
	out     []byte // Go memory dtmf_rx_get copies keys into, NUL included
	cleanup runtime.Cleanup

	filterDialtone                 bool
	twist, reverseTwist, threshold int
}

// New returns a receiver with spandsp's default parameters. It panics only
// if C memory is exhausted.
func New() *Detector {
	initMu.Lock()
	s := C.dtmf_rx_init(nil, nil, nil)
	initMu.Unlock()
	if s == nil {
		panic("spandsp: dtmf_rx_init failed")
	}
	d := &Detector{
		s:            s,
		out:          make([]byte, 64),
		twist:        DefaultTwist,
		reverseTwist: DefaultReverseTwist,
		threshold:    DefaultThreshold,
	}
	d.cleanup = runtime.AddCleanup(d, func(s *C.dtmf_rx_state_t) { C.dtmf_rx_free(s) }, s)
	return d
}

// SetParams sets spandsp's acceptance limits (dtmf_rx_parms): the dial
// tone notch filter, the largest twist with the high-group tone below
// (twist) and above (reverseTwist) the low-group tone in dB, and the lowest
// tone level in dBm0. A negative twist or reverseTwist, or a threshold of
// -99 or less, leaves that limit unchanged. The limits survive Reset.
func (d *Detector) SetParams(filterDialtone bool, twist, reverseTwist, threshold int) {
	if twist >= 0 {
		d.twist = twist
	}
	if reverseTwist >= 0 {
		d.reverseTwist = reverseTwist
	}
	if threshold > -99 {
		d.threshold = threshold
	}
	d.filterDialtone = filterDialtone
	d.apply()
}

// apply hands the stored limits to spandsp.
func (d *Detector) apply() {
	if d.s == nil {
		return
	}
	var f C.int
	if d.filterDialtone {
		f = 1
	}
	C.dtmf_rx_parms(d.s, f, C.int(d.twist), C.int(d.reverseTwist), C.int(d.threshold))
}

// Detect feeds pcm, 8 kHz 16-bit samples of any length, and returns the keys
// that started within it, in order. It makes one cgo call and allocates
// only when a single call finds two or more keys, or when pcm is longer than
// about 12,000 samples. After Close it returns "".
func (d *Detector) Detect(pcm []int16) string {
	if d.s == nil || len(pcm) == 0 {
		return ""
	}
	// At most one key per two 102-sample blocks, plus one per C chunk at
	// the seams, plus the NUL and some slack.
	if need := len(pcm)/204 + len(pcm)/(160*102) + 4; need > len(d.out) {
		d.out = make([]byte, need)
	}
	n := int(C.sspr_dtmf_rx(d.s, (*C.int16_t)(unsafe.Pointer(&pcm[0])), C.size_t(len(pcm)),
		(*C.char)(unsafe.Pointer(&d.out[0])), C.size_t(len(d.out))))
	switch n {
	case 0:
		return ""
	case 1:
		for i := 0; i < len(keys); i++ {
			if keys[i] == d.out[0] {
				return keys[i : i+1]
			}
		}
	}
	return string(d.out[:n])
}

// Reset returns the receiver to its state after New, keeping the limits
// set by SetParams.
func (d *Detector) Reset() {
	if d.s == nil {
		return
	}
	C.dtmf_rx_init(d.s, nil, nil)
	d.apply()
}

// Close frees the receiver's C memory. It is safe to call more than once.
func (d *Detector) Close() {
	if d.s == nil {
		return
	}
	d.cleanup.Stop()
	C.dtmf_rx_free(d.s)
	d.s = nil
}
