package portal

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"unicode"

	"github.com/alexedwards/argon2id"
	"golang.org/x/text/unicode/norm"
)

// Argon2 is the cost of the argon2id hashes of PINs and answers. Zero
// fields take DefaultArgon2's.
type Argon2 struct {
	// Memory in KiB, Time in passes, Threads in lanes.
	Memory  uint32 `yaml:"memory_kib"`
	Time    uint32 `yaml:"time"`
	Threads uint8  `yaml:"threads"`
}

// DefaultArgon2 is OWASP's second argon2id configuration (19 MiB, 2
// passes, 1 lane): tens of milliseconds per hash, at a memory cost that
// several hundred concurrent hashes can afford.
var DefaultArgon2 = Argon2{Memory: 19 * 1024, Time: 2, Threads: 1}

// maxHashing bounds the hashes computed at once, so that a flood of
// sign-ins or answers cannot take all the memory.
const maxHashing = 8

// hasher hashes and checks PINs and answers with argon2id.
type hasher struct {
	params *argon2id.Params
	sem    chan struct{}
	// dummy is a hash of nothing anyone can type, checked when there is
	// no stored hash, so that the work is the same.
	dummy string
}

func newHasher(a Argon2) *hasher {
	if a.Memory == 0 {
		a.Memory = DefaultArgon2.Memory
	}
	if a.Time == 0 {
		a.Time = DefaultArgon2.Time
	}
	if a.Threads == 0 {
		a.Threads = DefaultArgon2.Threads
	}
	h := &hasher{
		params: &argon2id.Params{Memory: a.Memory, Iterations: a.Time, Parallelism: a.Threads, SaltLength: 16, KeyLength: 32},
		sem:    make(chan struct{}, maxHashing),
	}
	h.dummy, _ = h.hash(randomToken(24))
	return h
}

// hash returns the PHC string of secret.
func (h *hasher) hash(secret string) (string, error) {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	return argon2id.CreateHash(secret, h.params)
}

// check reports whether secret matches the PHC string hash. An empty or
// broken hash never matches, after the same work as a real check.
func (h *hasher) check(secret, hash string) bool {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	if hash == "" {
		hash = h.dummy
	}
	ok, err := argon2id.ComparePasswordAndHash(secret, hash)
	if err != nil {
		_, _ = argon2id.ComparePasswordAndHash(secret, h.dummy)
		return false
	}
	return ok && hash != h.dummy
}

// normaliseAnswer is what is hashed of an answer to a security question:
// Unicode-normalised (NFKC), lower case, letters and digits only, words
// separated by one space. "  New-York! " and "new york" are the same.
func normaliseAnswer(s string) string {
	s = norm.NFKC.String(s)
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteString(strings.ToLower(string(r)))
		default:
			space = true
		}
	}
	return b.String()
}

// weakPIN reports whether pin is easy to guess: one digit repeated, a run
// up or down (1234, 9876), or a pair repeated (1212).
func weakPIN(pin string) bool {
	if len(pin) < 2 {
		return true
	}
	same, up, down := true, true, true
	for i := 1; i < len(pin); i++ {
		d := int(pin[i]) - int(pin[i-1])
		same = same && d == 0
		up = up && (d == 1 || d == -9)
		down = down && (d == -1 || d == 9)
	}
	if same || up || down {
		return true
	}
	if len(pin)%2 == 0 && strings.Repeat(pin[:2], len(pin)/2) == pin {
		return true
	}
	return false
}

// allDigits reports whether s is non-empty and only ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}
