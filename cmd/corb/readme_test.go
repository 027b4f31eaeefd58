package main

import (
	"os"
	"strings"
	"testing"

	"github.com/corb-dev/corb/topology"
)

// TestReadmeGraphIsCurrent keeps the picture in the README drawn from the
// default topology; regenerate it with `corb topology graph`.
func TestReadmeGraphIsCurrent(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := topology.Load("../../deploy/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```mermaid\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README has no mermaid block")
	}
	if block != spec.Mermaid() {
		t.Fatalf("README's graph differs from `corb topology graph` of deploy/topology.yaml:\n%s", spec.Mermaid())
	}
}
