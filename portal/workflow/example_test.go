package workflow_test

import (
	"fmt"

	"github.com/sspr-project/sspr/portal/workflow"
)

func Example() {
	c := workflow.Config{
		Register: []workflow.Gate{{Kind: workflow.Password}, {Kind: workflow.Phone}, {Kind: workflow.Questions}},
		Reset:    []workflow.Gate{{Kind: workflow.Phone, Mode: workflow.ModeCode}, {Kind: workflow.Questions}},
	}
	if err := c.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	p := workflow.Start(workflow.Reset)
	for {
		g, ok := p.Current(c)
		if !ok {
			break
		}
		fmt.Printf("gate %d: %+v\n", p.Index, g)
		p, _ = p.Record(c, workflow.Passed)
	}
	fmt.Println("passed:", p.Passed(c))
	// Output:
	// gate 0: {Kind:phone Mode:code Attempts:2 Asked:0 MustBeRight:0 Count:0}
	// gate 1: {Kind:questions Mode: Attempts:0 Asked:2 MustBeRight:2 Count:0}
	// passed: true
}
