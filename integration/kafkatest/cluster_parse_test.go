package kafkatest

import (
	"strings"
	"testing"
)

func TestParseNodes(t *testing.T) {
	out := "node=1 id=1 state=running pid=12 broker=127.0.0.1:9001 controller=127.0.0.1:9101 client=127.0.0.1:9201 advertised=127.0.0.1:9301\n" +
		"node=2 id=2 state=stopped pid=- broker=127.0.0.1:9002 controller=127.0.0.1:9102 client=- advertised=-\n\n"
	nodes, err := parseNodes(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []nodeLine{
		{node: Node{Node: 1, ID: 1, Broker: "127.0.0.1:9001", Controller: "127.0.0.1:9101", Client: "127.0.0.1:9201", Proxied: "127.0.0.1:9301"}, state: "running"},
		{node: Node{Node: 2, ID: 2, Broker: "127.0.0.1:9002", Controller: "127.0.0.1:9102"}, state: "stopped"},
	}
	if len(nodes) != len(want) {
		t.Fatalf("got %d nodes, want %d", len(nodes), len(want))
	}
	for i := range want {
		if nodes[i] != want[i] {
			t.Errorf("node %d: got %+v, want %+v", i+1, nodes[i], want[i])
		}
	}

	for _, tt := range []struct{ name, out, want string }{
		{"empty", "", "listed no node"},
		{"not key=value", "node=1 id=1 broker=a:1 junk", `"junk" is not key=value`},
		{"no broker", "node=1 id=1 state=running", "want node=, id= and broker="},
		{"bad id", "node=1 id=x broker=a:1", "want node=, id= and broker="},
		{"out of order", "node=2 id=2 broker=a:1", "out of order"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseNodes(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want one with %q", err, tt.want)
			}
		})
	}
}
