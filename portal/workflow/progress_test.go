package workflow

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

// full is a valid config with several gates in every journey.
func full() Config {
	return Config{
		Register: []Gate{{Kind: Password}, {Kind: Phone}, {Kind: PIN}, {Kind: Questions}, {Kind: Language}},
		Reset:    []Gate{{Kind: Phone, Mode: ModePIN}, {Kind: Questions}},
		Unlock:   []Gate{{Kind: Questions}, {Kind: Phone, Mode: ModeCode}},
	}
}

func TestJourneys(t *testing.T) {
	for _, cfg := range []struct {
		name string
		c    Config
	}{{"default", DefaultConfig()}, {"full", full()}} {
		if err := cfg.c.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, j := range Journeys {
			t.Run(cfg.name+"/"+string(j), func(t *testing.T) {
				c, gates := cfg.c, cfg.c.Gates(j)
				p := Start(j)
				for i, want := range gates {
					if p.Done(c) || p.Passed(c) {
						t.Fatalf("gate %d: Done=%v Passed=%v before the last gate", i, p.Done(c), p.Passed(c))
					}
					g, ok := p.Current(c)
					if !ok || g != want {
						t.Fatalf("gate %d: Current = %+v, %v, want %+v", i, g, ok, want)
					}
					before := p
					next, err := p.Record(c, Passed)
					if err != nil {
						t.Fatalf("gate %d: Record: %v", i, err)
					}
					if !reflect.DeepEqual(p, before) {
						t.Fatalf("Record changed its receiver")
					}
					p = next
				}
				if !p.Done(c) || !p.Passed(c) {
					t.Fatalf("after every gate: Done=%v Passed=%v, want both", p.Done(c), p.Passed(c))
				}
				if _, ok := p.Current(c); ok {
					t.Error("Current after the last gate reports a gate")
				}
				if _, err := p.Record(c, Passed); !errors.Is(err, ErrDone) {
					t.Errorf("Record after done = %v, want ErrDone", err)
				}
			})
		}
	}
}

func TestFailedGateEndsJourney(t *testing.T) {
	c := full()
	for _, j := range Journeys {
		for fail := range len(c.Gates(j)) {
			p := Start(j)
			var err error
			for range fail {
				if p, err = p.Record(c, Passed); err != nil {
					t.Fatal(err)
				}
			}
			if p, err = p.Record(c, Failed); err != nil {
				t.Fatal(err)
			}
			if !p.Done(c) || p.Passed(c) {
				t.Errorf("%s: gate %d failed: Done=%v Passed=%v, want done, not passed", j, fail, p.Done(c), p.Passed(c))
			}
			if _, ok := p.Current(c); ok {
				t.Errorf("%s: Current after a failed gate reports a gate", j)
			}
			for _, r := range []Result{Passed, Failed} {
				if _, err := p.Record(c, r); !errors.Is(err, ErrDone) {
					t.Errorf("%s: Record(%v) after failure = %v, want ErrDone", j, r, err)
				}
			}
		}
	}
}

func TestRecordRefuses(t *testing.T) {
	c := DefaultConfig()
	tests := []struct {
		name string
		p    Progress
		r    Result
		want error
	}{
		{"zero result", Start(Reset), 0, ErrResult},
		{"out of range result", Start(Reset), 7, ErrResult},
		{"unknown journey", Start("sideways"), Passed, ErrJourney},
		{"zero progress", Progress{}, Passed, ErrJourney},
		{"index ahead of results", Progress{Journey: Register, Index: 2, Results: []Result{Passed}}, Passed, ErrProgress},
		{"negative index", Progress{Journey: Register, Index: -1}, Passed, ErrProgress},
		{"failed in the middle", Progress{Journey: Register, Index: 1, Results: []Result{Failed, Passed}}, Passed, ErrProgress},
		{"invalid stored result", Progress{Journey: Register, Index: 1, Results: []Result{9}}, Passed, ErrProgress},
		{"done", Progress{Journey: Reset, Index: 1, Results: []Result{Passed}}, Passed, ErrDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.p.Record(c, tt.r); !errors.Is(err, tt.want) {
				t.Errorf("Record = %v, want %v", err, tt.want)
			}
			if tt.want == ErrProgress && (tt.p.Passed(c) || !tt.p.Done(c)) {
				t.Errorf("inconsistent progress: Done=%v Passed=%v, want done, not passed", tt.p.Done(c), tt.p.Passed(c))
			}
		})
	}
}

func TestJourneyWithNoGatesNeverPasses(t *testing.T) {
	c := Config{Unlock: []Gate{}} // invalid, but Passed must still fail closed
	p := Start(Unlock)
	if !p.Done(c) || p.Passed(c) {
		t.Errorf("no gates: Done=%v Passed=%v, want done, not passed", p.Done(c), p.Passed(c))
	}
}

func TestProgressJSON(t *testing.T) {
	c := full()
	p := Start(Register)
	for _, r := range []Result{Passed, Passed, Failed} {
		var err error
		if p, err = p.Record(c, r); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"journey":"register","index":2,"results":["passed","passed","failed"]}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var back Progress
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip = %+v, want %+v", back, p)
	}
	if b, err := json.Marshal(Start(Reset)); err != nil || string(b) != `{"journey":"reset","index":0}` {
		t.Errorf("JSON of Start = %s, %v", b, err)
	}
	if err := json.Unmarshal([]byte(`{"journey":"reset","index":1,"results":["maybe"]}`), &back); !errors.Is(err, ErrResult) {
		t.Errorf("unmarshal of an unknown result = %v, want ErrResult", err)
	}
	if _, err := json.Marshal(Progress{Journey: Reset, Results: []Result{0}}); !errors.Is(err, ErrResult) {
		t.Errorf("marshal of an invalid result = %v, want ErrResult", err)
	}
}

func TestResultString(t *testing.T) {
	for _, tt := range []struct {
		r    Result
		want string
	}{{Passed, "passed"}, {Failed, "failed"}, {0, "invalid"}, {3, "invalid"}} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Result(%d).String() = %q, want %q", uint8(tt.r), got, tt.want)
		}
		if tt.want == "invalid" {
			continue
		}
		if back, err := ParseResult(tt.want); err != nil || back != tt.r {
			t.Errorf("ParseResult(%q) = %v, %v", tt.want, back, err)
		}
	}
	if _, err := ParseResult("invalid"); !errors.Is(err, ErrResult) {
		t.Errorf("ParseResult(invalid) = %v, want ErrResult", err)
	}
}

func TestRestore(t *testing.T) {
	tests := []struct {
		name  string
		gates map[int]string
		want  Progress
		err   error
	}{
		{"none", nil, Progress{Journey: Reset}, nil},
		{"passed", map[int]string{0: "passed"}, Progress{Journey: Reset, Index: 1, Results: []Result{Passed}}, nil},
		{"failed", map[int]string{0: "passed", 1: "failed"}, Progress{Journey: Reset, Index: 1, Results: []Result{Passed, Failed}}, nil},
		{"gap", map[int]string{0: "passed", 2: "passed"}, Progress{}, ErrProgress},
		{"after failure", map[int]string{0: "failed", 1: "passed"}, Progress{}, ErrProgress},
		{"bad result", map[int]string{0: "ok"}, Progress{}, ErrResult},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Restore(Reset, tt.gates)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Restore err = %v, want %v", err, tt.err)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Restore = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := Restore("x", nil); !errors.Is(err, ErrJourney) {
		t.Errorf("Restore of an unknown journey = %v, want ErrJourney", err)
	}
}

// TestNeverPassedWithoutEveryGate drives random sequences of results, valid
// and not, against random journeys, and checks that Passed holds exactly
// when every gate of the journey recorded Passed.
func TestNeverPassedWithoutEveryGate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	configs := []Config{DefaultConfig(), full()}
	results := []Result{Passed, Passed, Passed, Failed, 0, 3}
	for range 5000 {
		c := configs[rng.IntN(len(configs))]
		j := Journeys[rng.IntN(len(Journeys))]
		n := len(c.Gates(j))
		p := Start(j)
		var recorded []Result // results Record accepted
		for range rng.IntN(n + 3) {
			r := results[rng.IntN(len(results))]
			next, err := p.Record(c, r)
			if err != nil {
				if !reflect.DeepEqual(next, p) {
					t.Fatalf("failed Record changed the progress: %+v -> %+v", p, next)
				}
				continue
			}
			recorded = append(recorded, r)
			p = next
		}
		every := len(recorded) == n
		for _, r := range recorded {
			every = every && r == Passed
		}
		if p.Passed(c) != every {
			t.Fatalf("%s with %d gates, recorded %v: Passed = %v", j, n, recorded, p.Passed(c))
		}
		// Tampering with a passed progress never keeps it passed.
		if every && n > 0 {
			q := Progress{Journey: p.Journey, Index: p.Index, Results: append([]Result(nil), p.Results...)}
			q.Results[rng.IntN(n)] = results[3+rng.IntN(3)]
			if q.Passed(c) {
				t.Fatalf("tampered progress %+v is Passed", q)
			}
		}
		// Restoring what the store keeps gives the same answers.
		gates := map[int]string{}
		for i, r := range p.Results {
			gates[i] = r.String()
		}
		back, err := Restore(j, gates)
		if err != nil || back.Passed(c) != every || back.Done(c) != p.Done(c) {
			t.Fatalf("Restore(%v) = %+v, %v; want Passed=%v Done=%v", gates, back, err, every, p.Done(c))
		}
	}
}
