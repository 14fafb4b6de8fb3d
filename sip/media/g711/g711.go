package g711

import "math/bits"

// Decode tables, indexed by code.
var (
	ulawDecode [256]int16
	alawDecode [256]int16
)

// Encode tables, indexed by the top 14 (µ-law) or 13 (A-law) bits of the
// sample read as unsigned: uint16(s) >> 2 and uint16(s) >> 3.
var (
	ulawEncode [1 << 14]byte
	alawEncode [1 << 13]byte
)

func init() {
	for c := range 256 {
		ulawDecode[c] = expandULaw(byte(c))
		alawDecode[c] = expandALaw(byte(c))
	}
	for i := range len(ulawEncode) {
		ulawEncode[i] = compressULaw(int16(uint16(i) << 2))
	}
	for i := range len(alawEncode) {
		alawEncode[i] = compressALaw(int16(uint16(i) << 3))
	}
}

// EncodeULaw returns the µ-law code of s.
func EncodeULaw(s int16) byte {
	return ulawEncode[uint16(s)>>2]
}

// DecodeULaw returns the 16-bit sample that µ-law code b stands for.
func DecodeULaw(b byte) int16 {
	return ulawDecode[b]
}

// EncodeALaw returns the A-law code of s.
func EncodeALaw(s int16) byte {
	return alawEncode[uint16(s)>>3]
}

// DecodeALaw returns the 16-bit sample that A-law code b stands for.
func DecodeALaw(b byte) int16 {
	return alawDecode[b]
}

// EncodeULawFrame encodes src into dst as µ-law and returns the number of
// samples written, the smaller of len(dst) and len(src).
func EncodeULawFrame(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = ulawEncode[uint16(s)>>2]
	}
	return n
}

// DecodeULawFrame decodes the µ-law codes in src into dst and returns the
// number of samples written, the smaller of len(dst) and len(src).
func DecodeULawFrame(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = ulawDecode[b]
	}
	return n
}

// EncodeALawFrame encodes src into dst as A-law and returns the number of
// samples written, the smaller of len(dst) and len(src).
func EncodeALawFrame(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = alawEncode[uint16(s)>>3]
	}
	return n
}

// DecodeALawFrame decodes the A-law codes in src into dst and returns the
// number of samples written, the smaller of len(dst) and len(src).
func DecodeALawFrame(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawDecode[b]
	}
	return n
}

// compressULaw is the G.191 µ-law encoder for one sample, used to fill the
// table. Negative samples are folded with the one's complement, then biased
// by 33 (in 14-bit units) so that segment boundaries fall on powers of two.
func compressULaw(s int16) byte {
	v := int(s) >> 2 // 14-bit sample
	sign := byte(0x80)
	if v < 0 {
		v = ^v
		sign = 0
	}
	v = min(v+33, 0x1FFF)
	// Segment 0 holds 33-63, segment 1 64-127, ... segment 7 4096-8191.
	seg := bits.Len(uint(v)) - 6
	mant := byte(v>>(seg+1)) & 0x0F
	return sign | byte(7-seg)<<4 | (0x0F - mant)
}

// expandULaw is the G.191 µ-law decoder for one code.
func expandULaw(b byte) int16 {
	c := ^b
	exp := int(c>>4) & 7
	mant := int(c & 0x0F)
	step := 8 << exp // one quantisation step, in 16-bit units
	v := 0x80<<exp + step*mant + step/2 - 4*33
	if b&0x80 == 0 {
		v = -v
	}
	return int16(v)
}

// compressALaw is the G.191 A-law encoder for one sample. Negative samples
// are folded with the one's complement.
func compressALaw(s int16) byte {
	v := int(s) >> 4 // 12-bit magnitude after folding the sign
	sign := byte(0x80)
	if s < 0 {
		v = ^int(s) >> 4
		sign = 0
	}
	code := v // segment 0: 0-15, linear
	if v > 15 {
		exp := bits.Len(uint(v)) - 4 // 1 for 16-31, ... 7 for 1024-2047
		code = exp<<4 | (v>>(exp-1))&0x0F
	}
	return (sign | byte(code)) ^ 0x55
}

// expandALaw is the G.191 A-law decoder for one code.
func expandALaw(b byte) int16 {
	c := b ^ 0x55
	exp := int(c>>4) & 7
	mant := int(c & 0x0F)
	if exp > 0 {
		mant += 16
	}
	v := mant<<4 + 8
	if exp > 1 {
		v <<= exp - 1
	}
	if c&0x80 == 0 {
		v = -v
	}
	return int16(v)
}
