package runtimetest_test

import (
	"fmt"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtimetest"
)

// An operator that shouts its input runs through the runtime, exactly once:
// one record comes out, the other is dead-lettered with why and whence.
func Example() {
	t := &recorder{} // in a test: the test's t
	defer t.close()

	tt := runtimetest.New(t, runtimetest.Topics(3, "in", "out"), runtimetest.Topics(1, "dlq"))
	tt.Produce("in", "greeting", []byte("hello"))
	tt.Produce("in", "bad", []byte("poison"))
	tt.Run(runtimetest.Operator{
		Name: "upper", Inputs: []string{"in"}, Outputs: []string{"out"}, DeadLetter: "dlq",
		Operator: operators.OperatorFunc(upper),
	})

	for _, r := range tt.Expect("out", 1) {
		fmt.Printf("out: %s=%s\n", r.Key, r.Value)
	}
	for _, dl := range tt.DeadLetters("dlq", 1) {
		fmt.Printf("dead letter: %s from %s of %s: %s (%s)\n", dl.Value, dl.Operator, dl.Topic, dl.Error, dl.Reason)
	}
	// Output:
	// out: greeting=HELLO
	// dead letter: poison from upper of in: cannot shout "poison" (permanent)
}
