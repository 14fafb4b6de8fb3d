package ivr

import (
	"errors"
	"testing"
)

// TestSetPrompts: a good set replaces the prompts; a set lacking a prompt
// a mode needs is refused and the old set stays.
func TestSetPrompts(t *testing.T) {
	v, err := newVerifier(Config{}, nil, testPrompts{})
	if err != nil {
		t.Fatal(err)
	}
	def, err := DefaultPrompts()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		set     func() error
		wantErr error
		want    promptSource
	}{
		{name: "default", set: func() error { return v.SetPrompts(def) }, want: def},
		{name: "missing prompt", set: func() error { return v.setSource(missingPrompt{name: PromptGoodbye}) }, wantErr: ErrPrompt, want: def},
		{name: "back to the test set", set: func() error { return v.setSource(testPrompts{}) }, want: testPrompts{}},
		{name: "nil is the default", set: func() error { return v.SetPrompts(nil) }, want: def},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.set()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if got := v.prompts.Load().src; got != tc.want {
				t.Errorf("prompts %T, want %T", got, tc.want)
			}
		})
	}
}
