package workflow

import (
	"errors"
	"fmt"
	"slices"
)

// Journey is one of the portal's three journeys.
type Journey string

// The journeys.
const (
	// Register: sign in, prove the phone, and record what later gates need.
	Register Journey = "register"
	// Reset: pass the gates, then set a new password.
	Reset Journey = "reset"
	// Unlock: pass the gates, then the account is unlocked.
	Unlock Journey = "unlock"
)

// Journeys lists every journey.
var Journeys = []Journey{Register, Reset, Unlock}

// Valid reports whether j is one of [Journeys].
func (j Journey) Valid() bool { return slices.Contains(Journeys, j) }

// GateKind is what a gate asks of the person.
type GateKind string

// The kinds of gate.
const (
	// Password (register only, and first): sign in with the directory
	// password.
	Password GateKind = "password"
	// Phone: a verification call to the registered number (see Gate.Mode).
	Phone GateKind = "phone"
	// PIN (register only): choose a PIN, later keyed in a phone gate of
	// mode "pin".
	PIN GateKind = "pin"
	// Questions: answer security questions (register: choose and answer
	// Count of them; reset and unlock: answer Asked of them).
	Questions GateKind = "questions"
	// Language (register only): pick the language of calls and pages.
	Language GateKind = "language"
)

// GateKinds lists every kind of gate.
var GateKinds = []GateKind{Password, Phone, PIN, Questions, Language}

// Valid reports whether k is one of [GateKinds].
func (k GateKind) Valid() bool { return slices.Contains(GateKinds, k) }

// registerOnly reports whether gates of kind k belong only in register.
func (k GateKind) registerOnly() bool { return k == Password || k == PIN || k == Language }

// The modes of a phone gate (the verification modes of the ivr package).
const (
	// ModeMatch (the default): key the two digits shown on the page.
	ModeMatch = "match"
	// ModeConfirm: press # to confirm.
	ModeConfirm = "confirm"
	// ModePIN: key the PIN chosen at registration.
	ModePIN = "pin"
	// ModeCode: type into the page the code the call speaks.
	ModeCode = "code"
)

// Modes lists every phone gate mode.
var Modes = []string{ModeMatch, ModeConfirm, ModePIN, ModeCode}

// Defaults and limits of the gates' settings.
const (
	// DefaultAttempts is how many calls a phone gate allows by default.
	DefaultAttempts = 2
	// MaxAttempts is the most calls a phone gate may allow.
	MaxAttempts = 5
	// DefaultAsked is how many questions a reset or unlock asks by default.
	DefaultAsked = 2
	// DefaultCount is how many questions register has answered by default.
	DefaultCount = 3
)

// Gate is one step of a journey and its settings. The zero value of every
// setting means its default; [Config.Gates] returns gates with the defaults
// filled in.
type Gate struct {
	// Kind is what the gate asks (yaml "gate").
	Kind GateKind `yaml:"gate" json:"gate"`
	// Mode (phone only) is the verification mode, one of [Modes];
	// default "match".
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Attempts (phone only) is how many calls are allowed, 1 to
	// MaxAttempts; default DefaultAttempts.
	Attempts int `yaml:"attempts,omitempty" json:"attempts,omitempty"`
	// Asked (questions in reset and unlock) is how many questions are
	// asked; default DefaultAsked.
	Asked int `yaml:"asked,omitempty" json:"asked,omitempty"`
	// MustBeRight (questions in reset and unlock) is how many answers must
	// be right, at most Asked; default Asked.
	MustBeRight int `yaml:"must_be_right,omitempty" json:"must_be_right,omitempty"`
	// Count (questions in register) is how many questions a person
	// answers when registering; default DefaultCount.
	Count int `yaml:"count,omitempty" json:"count,omitempty"`
}

// withDefaults returns g with the zero settings of its kind replaced by
// their defaults. j decides which question settings apply.
func (g Gate) withDefaults(j Journey) Gate {
	switch g.Kind {
	case Phone:
		if g.Mode == "" {
			g.Mode = ModeMatch
		}
		if g.Attempts == 0 {
			g.Attempts = DefaultAttempts
		}
	case Questions:
		if j == Register {
			if g.Count == 0 {
				g.Count = DefaultCount
			}
			break
		}
		if g.Asked == 0 {
			g.Asked = DefaultAsked
		}
		if g.MustBeRight == 0 {
			g.MustBeRight = g.Asked
		}
	}
	return g
}

// Config lists, for each journey, its gates in order. A nil list means the
// journey's default (see [DefaultConfig]), so the zero Config is the default.
type Config struct {
	// Register is the gates of registration; it starts with a password
	// gate and contains a phone gate.
	Register []Gate `yaml:"register" json:"register,omitempty"`
	// Reset is the gates passed before a new password is set; it contains
	// a phone gate.
	Reset []Gate `yaml:"reset" json:"reset,omitempty"`
	// Unlock is the gates passed before the account is unlocked; it
	// contains a phone gate.
	Unlock []Gate `yaml:"unlock" json:"unlock,omitempty"`
}

// DefaultConfig is the default workflow: register signs in with the
// password, proves the phone with a match call and picks a language; reset
// and unlock each make one match call.
func DefaultConfig() Config {
	return Config{
		Register: []Gate{{Kind: Password}, {Kind: Phone, Mode: ModeMatch}, {Kind: Language}},
		Reset:    []Gate{{Kind: Phone, Mode: ModeMatch}},
		Unlock:   []Gate{{Kind: Phone, Mode: ModeMatch}},
	}
}

// raw returns the configured list of journey j (the default if nil), or
// nil for an unknown journey.
func (c Config) raw(j Journey) []Gate {
	var gs []Gate
	switch j {
	case Register:
		gs = c.Register
	case Reset:
		gs = c.Reset
	case Unlock:
		gs = c.Unlock
	default:
		return nil
	}
	if gs == nil {
		return DefaultConfig().raw(j)
	}
	return gs
}

// Gates returns a copy of the gates of journey j, in order, with defaults
// filled in; nil for an unknown journey.
func (c Config) Gates(j Journey) []Gate {
	raw := c.raw(j)
	if raw == nil {
		return nil
	}
	gs := make([]Gate, len(raw))
	for i, g := range raw {
		gs[i] = g.withDefaults(j)
	}
	return gs
}

// ErrConfig is wrapped by every error of [Config.Validate].
var ErrConfig = errors.New("workflow: invalid config")

// FieldError is one problem found by [Config.Validate]. Path names the
// journey, and the gate and setting where there is one, as in the
// configuration file: "reset[1].mode".
type FieldError struct {
	// Path is where the problem is: "reset", "reset[1]" or "reset[1].mode".
	Path string
	// Msg says what is wrong, in plain words.
	Msg string
}

// Error returns "path: msg".
func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Unwrap returns ErrConfig.
func (e *FieldError) Unwrap() error { return ErrConfig }

// Validate checks every journey and returns all the problems found, each a
// *[FieldError] wrapping [ErrConfig], joined; nil if there are none.
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	reg := c.Gates(Register)
	regHas := func(k GateKind) (Gate, bool) {
		for _, g := range reg {
			if g.Kind == k {
				return g, true
			}
		}
		return Gate{}, false
	}
	for _, j := range Journeys {
		raw := c.raw(j)
		if j == Register && (len(raw) == 0 || raw[0].Kind != Password) {
			add(string(j), "must start with a %q gate", Password)
		}
		seen := map[GateKind]int{}
		for i, g := range raw {
			at := fmt.Sprintf("%s[%d]", j, i)
			field := func(name string) string { return at + "." + name }
			if !g.Kind.Valid() {
				add(field("gate"), "unknown gate %q", g.Kind)
				continue
			}
			if first, dup := seen[g.Kind]; dup {
				add(field("gate"), "duplicate %q gate (also %s[%d])", g.Kind, j, first)
			} else {
				seen[g.Kind] = i
			}
			if j != Register && g.Kind.registerOnly() {
				add(field("gate"), "a %q gate belongs only in register", g.Kind)
			}
			if g.Kind != Phone {
				if g.Mode != "" {
					add(field("mode"), "only a phone gate has a mode")
				}
				if g.Attempts != 0 {
					add(field("attempts"), "only a phone gate has attempts")
				}
			}
			if g.Kind != Questions || j == Register {
				if g.Asked != 0 {
					add(field("asked"), "only a questions gate in reset or unlock has asked")
				}
				if g.MustBeRight != 0 {
					add(field("must_be_right"), "only a questions gate in reset or unlock has must_be_right")
				}
			}
			if (g.Kind != Questions || j != Register) && g.Count != 0 {
				add(field("count"), "only a questions gate in register has count")
			}
			d := g.withDefaults(j)
			switch g.Kind {
			case Phone:
				if !slices.Contains(Modes, d.Mode) {
					add(field("mode"), "unknown mode %q", g.Mode)
				} else if d.Mode == ModePIN && j != Register {
					if _, ok := regHas(PIN); !ok {
						add(field("mode"), "mode %q needs a %q gate in register", ModePIN, PIN)
					}
				}
				if j == Register && d.Mode == ModePIN {
					add(field("mode"), "mode %q cannot prove a new number", ModePIN)
				}
				if d.Attempts < 1 || d.Attempts > MaxAttempts {
					add(field("attempts"), "must be 1 to %d, not %d", MaxAttempts, g.Attempts)
				}
			case Questions:
				if j == Register {
					if d.Count < 1 {
						add(field("count"), "must be at least 1, not %d", g.Count)
					}
					break
				}
				if d.Asked < 1 {
					add(field("asked"), "must be at least 1, not %d", g.Asked)
					break
				}
				if d.MustBeRight < 1 || d.MustBeRight > d.Asked {
					add(field("must_be_right"), "must be 1 to asked (%d), not %d", d.Asked, g.MustBeRight)
				}
				rq, ok := regHas(Questions)
				switch {
				case !ok:
					add(field("gate"), "a %q gate needs one in register", Questions)
				case rq.Count < d.Asked:
					add(field("asked"), "asks %d questions but register collects only %d (register questions count)", d.Asked, rq.Count)
				}
			}
		}
		if _, ok := seen[Phone]; !ok {
			add(string(j), "no %s gate", Phone)
		}
	}
	return errors.Join(errs...)
}
