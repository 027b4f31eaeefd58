package dlq_test

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/corb-dev/corb/operators/runtimetest"
)

// failEndTxn makes the nth commit (EndTxn with commit set) fail with
// INVALID_TXN_STATE, as a broker would that lost the transaction.
func failEndTxn(tt *runtimetest.Tester, nth int) {
	seen := 0
	tt.Cluster().ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		tt.Cluster().KeepControl()
		r := req.(*kmsg.EndTxnRequest)
		if !r.Commit {
			return nil, nil, false
		}
		if seen++; seen != nth {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.InvalidTxnState.Code
		return resp, nil, true
	})
}
