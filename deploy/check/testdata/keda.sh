#!/usr/bin/env bash
# Refreshes KEDA's files in this folder from the kedacore/keda/v2 module zip, fetched
# through the Go module proxy (checked against sum.golang.org by the go command):
#   keda.sh_scaledobjects.yaml          config/crd/bases/keda.sh_scaledobjects.yaml (the CRD)
#   keda-kafka-scaler-metadata.txt      the kafka scaler's trigger metadata keys and where KEDA
#                                       reads them (resolvedEnv: also as <key>FromEnv)
#                                       (pkg/scalers/kafka_scaler.go, order=triggerMetadata)
# and prints the sha256 of each, to record in KEDA.md.
# Usage: deploy/check/testdata/keda.sh [VERSION]   (default: the one in KEDA.md)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${1:-$(sed -n 's/^version: *//p' "$here/KEDA.md")}
zip=$(cd "$here" && go mod download -json "github.com/kedacore/keda/v2@$version" | sed -n 's/^[[:space:]]*"Zip": "\(.*\)",$/\1/p')
[ -n "$zip" ] || { echo "keda.sh: go mod download gave no zip" >&2; exit 1; }
prefix="github.com/kedacore/keda/v2@$version"
unzip -p "$zip" "$prefix/config/crd/bases/keda.sh_scaledobjects.yaml" >"$here/keda.sh_scaledobjects.yaml"
unzip -p "$zip" "$prefix/pkg/scalers/kafka_scaler.go" |
  sed -n 's/.*keda:"name=\([A-Za-z]*\),order=\([^,"]*\).*/\1 \2/p' |
  awk '$2 ~ /triggerMetadata/' | sort -u >"$here/keda-kafka-scaler-metadata.txt"
echo "zip $(sha256sum "$zip" | cut -d' ' -f1)"
sha256sum "$here/keda.sh_scaledobjects.yaml" "$here/keda-kafka-scaler-metadata.txt" "$zip"
