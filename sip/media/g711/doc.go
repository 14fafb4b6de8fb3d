// Package g711 converts between 16-bit linear PCM and the two companded
// 8-bit formats of ITU-T G.711: µ-law (PCMU, RTP payload type 0, used in
// North America and Japan) and A-law (PCMA, payload type 8, used elsewhere).
//
// The results are bit-exact with the ITU-T G.191 reference implementation.
// µ-law encodes the 14 most significant bits of a sample (s >> 2), clipping
// magnitudes above 8159 in those units; A-law encodes the 13 most significant
// bits (s >> 3) and inverts the even bits of the code (XOR 0x55). Negative
// samples are folded with the one's complement, as G.191 does: a µ-law
// encoder built on the common "Sun" code (and sox) negates with the two's
// complement instead, so for negative samples it lands one 14-bit step away
// from G.191 and differs from this package at every decision boundary.
// Decoding returns the midpoint of each quantisation interval, scaled to
// 16 bits.
//
// Every conversion is a table lookup: 256-entry tables decode, and encoding
// indexes a table by the top bits of the sample (16,384 entries for µ-law,
// 8,192 for A-law), all built once when the package is initialised. The
// frame functions write into the caller's buffers and never allocate.
//
// Decoding and then re-encoding returns the same code for every code except
// the µ-law "negative zero" 0x7F, which decodes to 0 and re-encodes as 0xFF.
package g711
