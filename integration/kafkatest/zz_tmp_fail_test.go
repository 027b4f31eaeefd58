//go:build tmpfail

package kafkatest

import "testing"

func TestTmpFail(t *testing.T) { Brokers(t) }
