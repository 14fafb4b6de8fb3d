// Package dtmf decodes and encodes the keys a caller presses on a telephone
// keypad, from each of the three places they can arrive:
//
//   - in-band tones inside the call's audio (a [Detector] running Goertzel
//     filters over 8 kHz 16-bit PCM, to the ITU-T Q.24 acceptance bounds);
//   - RFC 4733 telephone-events in RTP (a [Receiver] state machine that copes
//     with what real peers send, and a [Sender] for tests and the demo phone);
//   - SIP INFO bodies (application/dtmf-relay and application/dtmf).
//
// It also generates tones and reads and writes the WAV files the tools use.
//
// The package is pure computation: standard library only (plus the leaf
// G.711 codec), no I/O, no goroutines. Per-frame and per-packet paths do not
// allocate after construction.
//
// A key is a byte from [Keys]: '0'-'9', '*', '#' and 'A'-'D'.
package dtmf
