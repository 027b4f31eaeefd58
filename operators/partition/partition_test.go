package partition_test

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/partition"
)

// ForKey agrees with franz-go's default (Kafka-compatible) partitioner on
// keys of every length class of murmur2's tail and on many partition counts.
func TestForKeyMatchesKafkasPartitioner(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{}, []byte("a"), []byte("ab"), []byte("abc"), []byte("abcd"), []byte("lobby"), []byte("room-2"), {0xff, 0x80, 0x00}}
	for range 2000 {
		k := make([]byte, rng.IntN(40))
		for i := range k {
			k[i] = byte(rng.UintN(256))
		}
		keys = append(keys, k)
	}
	for _, n := range []int{1, 2, 3, 6, 7, 12, 100, 1 << 20} {
		kafka := kgo.StickyKeyPartitioner(nil).ForTopic("t")
		for _, k := range keys {
			want := int32(kafka.Partition(&kgo.Record{Key: k}, n))
			if got := partition.ForKey(k, n); got != want {
				t.Fatalf("ForKey(%x, %d) = %d, Kafka's partitioner says %d", k, n, got, want)
			}
		}
	}
}
