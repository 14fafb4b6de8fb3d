package dtmf

// Keys is the DTMF keypad, row by row: each row shares a low-group
// frequency and each column a high-group one.
const Keys = "123A456B789C*0#D"

// LowFreqs are the row (low group) frequencies in Hz.
var LowFreqs = [4]float64{697, 770, 852, 941}

// HighFreqs are the column (high group) frequencies in Hz.
var HighFreqs = [4]float64{1209, 1336, 1477, 1633}

// eventKeys maps RFC 4733 event codes 0-15 to keys.
const eventKeys = "0123456789*#ABCD"

// ValidKey reports whether c is one of the 16 DTMF keys. Lower-case a-d are
// not keys; callers that accept them normalise first.
func ValidKey(c byte) bool {
	return keyIndex(c) >= 0
}

// keyIndex returns the position of c in Keys, or -1.
func keyIndex(c byte) int {
	switch {
	case c >= '1' && c <= '3':
		return int(c - '1')
	case c >= '4' && c <= '6':
		return int(c-'4') + 4
	case c >= '7' && c <= '9':
		return int(c-'7') + 8
	case c == '*':
		return 12
	case c == '0':
		return 13
	case c == '#':
		return 14
	case c >= 'A' && c <= 'D':
		return int(c-'A')*4 + 3
	}
	return -1
}

// Frequencies returns the low- and high-group frequencies of key c.
func Frequencies(c byte) (low, high float64, ok bool) {
	i := keyIndex(c)
	if i < 0 {
		return 0, 0, false
	}
	return LowFreqs[i/4], HighFreqs[i%4], true
}

// EventCode returns the RFC 4733 event code (0-15) of key c.
func EventCode(c byte) (code uint8, ok bool) {
	for i := 0; i < len(eventKeys); i++ {
		if eventKeys[i] == c {
			return uint8(i), true
		}
	}
	return 0, false
}

// EventKey returns the key of RFC 4733 event code 0-15. Codes above 15
// (flash, and the non-DTMF events of RFC 4734) are not keys.
func EventKey(code uint8) (c byte, ok bool) {
	if int(code) >= len(eventKeys) {
		return 0, false
	}
	return eventKeys[code], true
}
