package workflow

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestDefaultConfigValidates(t *testing.T) {
	for name, c := range map[string]Config{"DefaultConfig": DefaultConfig(), "zero": {}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
	want := []Gate{
		{Kind: Password},
		{Kind: Phone, Mode: ModeMatch, Attempts: DefaultAttempts},
		{Kind: Language},
	}
	if got := (Config{}).Gates(Register); !reflect.DeepEqual(got, want) {
		t.Errorf("zero Config Gates(register) = %+v, want %+v", got, want)
	}
}

func TestGatesDefaults(t *testing.T) {
	c := Config{
		Register: []Gate{{Kind: Password}, {Kind: Phone}, {Kind: Questions}},
		Reset:    []Gate{{Kind: Phone, Mode: ModeCode, Attempts: 3}, {Kind: Questions, Asked: 3}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		j    Journey
		want []Gate
	}{
		{Register, []Gate{{Kind: Password}, {Kind: Phone, Mode: ModeMatch, Attempts: 2}, {Kind: Questions, Count: 3}}},
		{Reset, []Gate{{Kind: Phone, Mode: ModeCode, Attempts: 3}, {Kind: Questions, Asked: 3, MustBeRight: 3}}},
		{Unlock, []Gate{{Kind: Phone, Mode: ModeMatch, Attempts: 2}}},
		{"nope", nil},
	}
	for _, tt := range tests {
		if got := c.Gates(tt.j); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Gates(%s) = %+v, want %+v", tt.j, got, tt.want)
		}
	}
	// Gates returns a copy.
	c.Gates(Reset)[0].Mode = "x"
	if c.Reset[0].Mode != ModeCode {
		t.Error("Gates shares its slice with the Config")
	}
}

func TestValidate(t *testing.T) {
	reg := []Gate{{Kind: Password}, {Kind: Phone}}
	regQ := func(count int) []Gate { return append(reg[:2:2], Gate{Kind: Questions, Count: count}) }
	phone := []Gate{{Kind: Phone}}
	tests := []struct {
		name string
		c    Config
		want []string // each a whole line of the error; nil = valid
	}{
		{"default", DefaultConfig(), nil},
		{"all kinds", Config{
			Register: []Gate{{Kind: Password}, {Kind: Phone, Mode: ModeCode, Attempts: 5}, {Kind: PIN}, {Kind: Questions, Count: 4}, {Kind: Language}},
			Reset:    []Gate{{Kind: Phone, Mode: ModePIN, Attempts: 1}, {Kind: Questions, Asked: 4, MustBeRight: 3}},
			Unlock:   []Gate{{Kind: Questions}, {Kind: Phone, Mode: ModeConfirm}},
		}, nil},
		{"unknown mode", Config{Reset: []Gate{{Kind: Questions}, {Kind: Phone, Mode: "x"}}, Register: regQ(3)},
			[]string{`reset[1].mode: unknown mode "x"`}},
		{"no phone in reset", Config{Reset: []Gate{}},
			[]string{`reset: no phone gate`}},
		{"no phone in unlock", Config{Unlock: []Gate{{Kind: Questions}}, Register: regQ(2)},
			[]string{`unlock: no phone gate`}},
		{"no phone in register", Config{Register: []Gate{{Kind: Password}}},
			[]string{`register: no phone gate`}},
		{"register must start with password", Config{Register: []Gate{{Kind: Phone}, {Kind: Password}}},
			[]string{`register: must start with a "password" gate`}},
		{"empty register", Config{Register: []Gate{}},
			[]string{`register: must start with a "password" gate`, `register: no phone gate`}},
		{"unknown gate", Config{Unlock: []Gate{{Kind: Phone}, {Kind: "face"}}},
			[]string{`unlock[1].gate: unknown gate "face"`}},
		{"duplicate", Config{Reset: []Gate{{Kind: Phone}, {Kind: Phone, Mode: ModeCode}}},
			[]string{`reset[1].gate: duplicate "phone" gate (also reset[0])`}},
		{"register only in reset", Config{Reset: []Gate{{Kind: Phone}, {Kind: Language}}},
			[]string{`reset[1].gate: a "language" gate belongs only in register`}},
		{"password in unlock", Config{Unlock: []Gate{{Kind: Password}, {Kind: Phone}}},
			[]string{`unlock[0].gate: a "password" gate belongs only in register`}},
		{"attempts too many", Config{Reset: []Gate{{Kind: Phone, Attempts: 6}}},
			[]string{`reset[0].attempts: must be 1 to 5, not 6`}},
		{"attempts negative", Config{Unlock: []Gate{{Kind: Phone, Attempts: -1}}},
			[]string{`unlock[0].attempts: must be 1 to 5, not -1`}},
		{"pin mode without pin gate", Config{Reset: []Gate{{Kind: Phone, Mode: ModePIN}}},
			[]string{`reset[0].mode: mode "pin" needs a "pin" gate in register`}},
		{"pin mode in register", Config{Register: []Gate{{Kind: Password}, {Kind: PIN}, {Kind: Phone, Mode: ModePIN}}},
			[]string{`register[2].mode: mode "pin" cannot prove a new number`}},
		{"questions without register questions", Config{Reset: []Gate{{Kind: Phone}, {Kind: Questions}}},
			[]string{`reset[1].gate: a "questions" gate needs one in register`}},
		{"asked more than registered", Config{Register: regQ(2), Unlock: []Gate{{Kind: Phone}, {Kind: Questions, Asked: 3}}},
			[]string{`unlock[1].asked: asks 3 questions but register collects only 2 (register questions count)`}},
		{"default asked more than registered", Config{Register: regQ(1), Reset: []Gate{{Kind: Phone}, {Kind: Questions}}},
			[]string{`reset[1].asked: asks 2 questions but register collects only 1 (register questions count)`}},
		{"must be right more than asked", Config{Register: regQ(3), Reset: []Gate{{Kind: Phone}, {Kind: Questions, Asked: 2, MustBeRight: 3}}},
			[]string{`reset[1].must_be_right: must be 1 to asked (2), not 3`}},
		{"must be right negative", Config{Register: regQ(3), Reset: []Gate{{Kind: Phone}, {Kind: Questions, MustBeRight: -1}}},
			[]string{`reset[1].must_be_right: must be 1 to asked (2), not -1`}},
		{"asked negative", Config{Register: regQ(3), Reset: []Gate{{Kind: Phone}, {Kind: Questions, Asked: -2}}},
			[]string{`reset[1].asked: must be at least 1, not -2`}},
		{"count negative", Config{Register: regQ(-1)},
			[]string{`register[2].count: must be at least 1, not -1`}},
		{"count in reset", Config{Register: regQ(3), Reset: phone, Unlock: []Gate{{Kind: Phone}, {Kind: Questions, Count: 3}}},
			[]string{`unlock[1].count: only a questions gate in register has count`}},
		{"asked in register", Config{Register: append(reg[:2:2], Gate{Kind: Questions, Asked: 2, MustBeRight: 1})},
			[]string{`register[2].asked: only a questions gate in reset or unlock has asked`,
				`register[2].must_be_right: only a questions gate in reset or unlock has must_be_right`}},
		{"mode on questions", Config{Register: regQ(3), Reset: []Gate{{Kind: Phone}, {Kind: Questions, Mode: ModeCode, Attempts: 2}}},
			[]string{`reset[1].mode: only a phone gate has a mode`, `reset[1].attempts: only a phone gate has attempts`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tt.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(tt.want[0], fe.Path+": ") {
				t.Errorf("first FieldError = %+v, want path of %q", fe, tt.want[0])
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
register:
  - gate: password
  - gate: phone
    mode: match
  - gate: pin
  - gate: questions
    count: 3
  - gate: language
reset:
  - gate: phone
    mode: pin
    attempts: 3
  - gate: questions
    asked: 3
    must_be_right: 2
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Register: []Gate{{Kind: Password}, {Kind: Phone, Mode: ModeMatch}, {Kind: PIN}, {Kind: Questions, Count: 3}, {Kind: Language}},
		Reset:    []Gate{{Kind: Phone, Mode: ModePIN, Attempts: 3}, {Kind: Questions, Asked: 3, MustBeRight: 2}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	if got := c.Gates(Unlock); len(got) != 1 || got[0].Kind != Phone {
		t.Errorf("unset unlock = %+v, want the default", got)
	}
}
