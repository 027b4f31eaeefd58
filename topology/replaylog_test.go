package topology

import "testing"

func TestReplayLogNames(t *testing.T) {
	for _, c := range []struct{ ns, log, txn string }{
		{"corb", "corb.zone-counts-dlq.replayed", "corb.dlq-replay-zone-counts-dlq"},
		{"", "zone-counts-dlq.replayed", "dlq-replay-zone-counts-dlq"},
	} {
		n := Names{Namespace: c.ns}
		if got := n.ReplayLog("zone-counts-dlq"); got != c.log {
			t.Errorf("namespace %q: ReplayLog = %q, want %q", c.ns, got, c.log)
		}
		if got := n.ReplayTransactionalID("zone-counts-dlq"); got != c.txn {
			t.Errorf("namespace %q: ReplayTransactionalID = %q, want %q", c.ns, got, c.txn)
		}
	}
}
