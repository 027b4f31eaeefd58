package topology

// Names derives every name Corb gives a Kafka resource from a topology's
// namespace, so that topics, consumer groups and transactional ids of two
// buildings (or two test runs) sharing one cluster never collide. It is the
// one place these names are made: commands, the runtime and connectors all
// take them from here.
type Names struct {
	// Namespace prefixes every name ("" = none).
	Namespace string
}

// Names returns the naming of s's namespace.
func (s *Spec) Names() Names { return Names{Namespace: s.Namespace} }

// Topic is the physical name of a logical topic: "<namespace>.<topic>", or
// topic itself when the namespace is empty.
func (n Names) Topic(logical string) string { return n.prefixed(logical) }

// Group is the consumer group of an operator: "<namespace>.<operator>".
func (n Names) Group(operator string) string { return n.prefixed(operator) }

// TransactionalID is the transactional id of one replica of an operator:
// "<namespace>.<operator>-<instance>". It must be stable across restarts of
// the replica and unique among live replicas, so that a restarted replica
// fences its dead predecessor.
func (n Names) TransactionalID(operator, instance string) string {
	return n.Group(operator) + "-" + instance
}

func (n Names) prefixed(s string) string {
	if n.Namespace == "" {
		return s
	}
	return n.Namespace + "." + s
}
