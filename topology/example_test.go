package topology_test

import (
	"fmt"

	"github.com/corb-dev/corb/topology"
)

func Example() {
	src := `namespace: lobby
topics:
  - {name: commands, partitions: 3, schema: corb.Command}
  - {name: commands-dlq, schema: bytes}
operators:
  - name: sms-out
    kind: sms
    inputs: [commands]
    match: {command_type: [send_sms]}
    on_failure: commands-dlq
    replicas: 4
`
	kinds := topology.Kinds{"sms": {Inputs: []string{"corb.Command"}}}
	_, err := topology.Parse("topology.yaml", []byte(src))
	fmt.Println(err)

	s, _ := topology.Parse("topology.yaml", []byte(src[:len(src)-len("    replicas: 4\n")]))
	fmt.Println(s.Validate(kinds))
	fmt.Println(s.PhysicalName("commands"), s.WithNamespace("test-42").PhysicalName("commands"))
	op, _ := s.Operator("sms-out")
	fmt.Println(op.Matches(map[string]any{"command_type": "send_sms"}), op.Matches(map[string]any{"command_type": "status"}))
	// Output:
	// topology.yaml:11:15: operators[0].replicas: 4 replicas but input "commands" has 3 partitions: 1 replicas would idle
	// <nil>
	// lobby.commands test-42.commands
	// true false
}

// Every Kafka name Corb uses comes from the namespace through Names.
func ExampleNames() {
	n := topology.Names{Namespace: "bldg-7"}
	fmt.Println(n.Topic("events"))
	fmt.Println(n.Group("presence"))
	fmt.Println(n.TransactionalID("presence", "host-2"))
	fmt.Println(topology.Names{}.Topic("events"))
	// Output:
	// bldg-7.events
	// bldg-7.presence
	// bldg-7.presence-host-2
	// events
}
