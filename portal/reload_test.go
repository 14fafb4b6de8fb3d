package portal

import (
	"errors"
	"testing"

	"github.com/sspr-project/sspr/portal/workflow"
)

// TestSetWorkflow: a bad workflow is refused and the old one stays; a
// good one applies to the sessions that start next, while a session in
// progress goes on against it.
func TestSetWorkflow(t *testing.T) {
	cfg := testConfig()
	cfg.Workflow.Unlock = gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeConfirm})
	e := newEnv(t, cfg)
	e.register("bob", "+447700900456", "", nil)
	e.dir.locked["bob"] = true

	// A session started before the reload.
	before := e.browser()
	before.post("/unlock", "username", "bob").must(e.msg("phone.confirm.instructions"))

	for _, tc := range []struct {
		name string
		c    workflow.Config
	}{
		{"pin in register", workflow.Config{Register: gates(workflow.Gate{Kind: workflow.Password}, workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModePIN})}},
		{"unknown gate", workflow.Config{Unlock: gates(workflow.Gate{Kind: "retina"})}},
		{"more questions than the list", workflow.Config{Reset: gates(workflow.Gate{Kind: workflow.Phone}, workflow.Gate{Kind: workflow.Questions, Asked: 9})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.s.SetWorkflow(tc.c); !errors.Is(err, ErrConfig) {
				t.Fatalf("SetWorkflow: %v, want ErrConfig", err)
			}
			if g := e.s.wf().Gates(workflow.Unlock); len(g) != 1 || g[0].Mode != workflow.ModeConfirm {
				t.Fatalf("the workflow changed: %+v", g)
			}
		})
	}

	next := cfg.Workflow
	next.Unlock = gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeMatch})
	if err := e.s.SetWorkflow(next); err != nil {
		t.Fatal(err)
	}
	// The session from before the reload still finishes: its gate is
	// still a phone gate, at the same index.
	e.press("#")
	before.waitFor(e.msg("done.unlock.title"))
	// A session started after it has the new workflow.
	e.browser().post("/unlock", "username", "bob").must(e.msg("phone.match.instructions")).mustNot(e.msg("phone.confirm.instructions"))
	if e.dir.locked["bob"] {
		t.Fatal("account still locked")
	}
}
