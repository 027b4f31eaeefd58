// Package topology holds Corb's dataflow graph as data: topics (partitions,
// replication, configs, schema) and operators (kind, inputs, outputs, lookup
// tables, state topics, match pattern, dead-letter destination, replicas,
// delivery guarantee, kind-specific config).
//
// A topology is loaded strictly from YAML (Load, Parse): unknown fields, wrong
// types and dangling references are errors that carry FILE:LINE:COL and the path
// of the offending element. Validate checks the graph against the operator kinds
// the caller knows (Kinds) and reports every problem at once as Errors.
//
// Plan and Apply provision the topics through kadm without ever destroying data;
// Mermaid and DOT render the graph.
//
// The package imports no operator code: kinds are described to it as data.
package topology
