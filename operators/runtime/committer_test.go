package runtime_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
)

// A batch whose produce to one output fails must not commit without it.
func TestFailedProduceAbortsTheBatch(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out", "state", "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.MessageTooLarge, Count: 1})
	produce(t, brokers, "a")
	_, stop := start(t, runtime.Config{Name: "j", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"},
		DeadLetter: "dlq", Operator: operators.OperatorFunc(upper), RestoreSettle: 100 * time.Millisecond})
	defer stop()
	consume(t, brokers, "out", 1)
}
