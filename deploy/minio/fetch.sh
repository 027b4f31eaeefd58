#!/usr/bin/env bash
# Builds the MinIO server — the S3-compatible store the integration tests upload videos to —
# from the Go module proxy and prints the binary's path:
#
#   ${CORB_CACHE:-~/.cache/corb}/minio/<version>/minio
#
# MinIO is AGPL: it is a test tool only. It is built with `go install pkg@version` outside
# Corb's module (never in go.mod, never linked or shipped). The version is pinned, and the
# module's h1: hash (the one sum.golang.org records) is checked before building.
# A cold build takes about 5 minutes on 2 cores and makes a ~150 MB binary; when the binary
# is cached nothing is done. Concurrent runs share one build (a lock in the cache folder).
set -euo pipefail

module=github.com/minio/minio
version=v0.0.0-20260212201848-7aac2a2c5b7c
# `go mod download -json github.com/minio/minio@$version` → Sum
sum='h1:/qdoYujxF5MBLDMVLeiYJ/7fBa1HikX39Dvzb9Ji8pA='

cache=${CORB_CACHE:-$HOME/.cache/corb}
out=$cache/minio/$version
bin=$out/minio

die() { echo "minio/fetch.sh: $*" >&2; exit 1; }
ok() { [ -x "$bin" ] && [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$module@$version $sum" ]; }

if ok; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || die "needs Go (1.24 or newer) to build $module"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if ok; then # another run built it while we waited
  echo "$bin"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Outside any module, so Corb's go.mod is neither read nor changed.
cd "$tmp"
got=$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$/\1/p')
[ "$got" = "$sum" ] || die "$module@$version has module hash '$got', want $sum"

echo "minio/fetch.sh: building $module@$version (about 5 min on 2 cores, once; cached in $out)" >&2
start=$SECONDS
# Progress: a line per minute while the compiler runs, so CI logs do not look stuck.
(while sleep 60; do echo "minio/fetch.sh: still building ($(((SECONDS - start) / 60)) min)" >&2; done) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
CGO_ENABLED=0 GOBIN="$tmp/bin" GOFLAGS= go install -trimpath "$module@$version" ||
  die "go install $module@$version failed"
kill $ticker 2>/dev/null || true
[ -x "$tmp/bin/minio" ] || die "go install produced no minio binary"
mv "$tmp/bin/minio" "$bin.$$.part" # same folder as $bin only after this mv; then an atomic rename
mv "$bin.$$.part" "$bin"
echo "$module@$version $sum" >"$out/stamp"
echo "minio/fetch.sh: built in $((SECONDS - start)) s" >&2
echo "$bin"
