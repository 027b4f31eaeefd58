// Package partition computes which partition of a topic a record key lands
// on, as Kafka's default partitioner places it (the Java client's and
// franz-go's alike), so an operator can tell which keys its partitions hold
// without a Kafka client.
package partition

// ForKey is the partition among n (n > 0) that Kafka's default partitioner
// gives a record keyed by key: toPositive(murmur2(key)) % n. A nil key
// hashes like an empty one; producers spread keyless records instead, so
// ForKey says nothing about where those go.
func ForKey(key []byte, n int) int32 {
	return int32((murmur2(key) & 0x7fffffff) % uint32(n))
}

// murmur2 is Kafka's variant of MurmurHash2 (seed 0x9747b28c).
func murmur2(b []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
