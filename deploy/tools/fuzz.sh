#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 10s).
# CI runs it short (FUZZTIME=5s); `make fuzz` runs it long.
set -euo pipefail
cd "$(dirname "$0")/../.."
fuzztime=${FUZZTIME:-10s}
status=0
while IFS=: read -r file target; do
  pkg=./$(dirname "$file")
  echo "fuzz: $pkg $target ($fuzztime)"
  log=$(mktemp)
  if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s -parallel 1 >"$log" 2>&1; then
    # The fuzzer can report its own deadline as a failure when time runs out while it
    # shrinks a new input (a Go toolchain quirk); that is not a finding. A real one
    # says "Failing input written" and saves the input under testdata/fuzz.
    if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
      echo "fuzz: $target ran out of time while minimizing an input: not a failure"
    else
      cat "$log"
      status=1
    fi
  fi
  rm -f "$log"
done < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's/^\.\///; s/func //')
exit $status
