#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library (CPU) for Linux from the npm package
# onnxruntime-node@1.24.1 and prints the library's path:
#
#   ${CORB_CACHE:-~/.cache/corb}/ort/1.24.1/libonnxruntime.so.1
#
# The Go detector looks at $CORB_ORT_LIB first and then at that path.
# The package is taken with `npm pack --ignore-scripts` (its install script, which would
# download more binaries, never runs), its tarball is checked against the pinned sha512
# integrity that the npm registry reports, and only the library is extracted. The library
# is self-contained (it needs only libc, libm, libstdc++, libgcc_s); the npm package has no
# providers_shared library for Linux.
# Idempotent: when the library is present with its recorded sha256, nothing is fetched.
set -euo pipefail

version=1.24.1
spec=onnxruntime-node@$version
# `npm view onnxruntime-node@1.24.1 dist.integrity`
integrity='sha512-Ex/oUXKdhDoxvlNxBT3oYtW0MH88yYpPlXQeVQUXpcJQmN24usd/8RCoPLN5kCHwDsiZ+nqsnjciyFRl423dQw=='

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) arch=x64 sha=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4 ;;
  Linux/aarch64) arch=arm64 sha=7954e8bdedb497f830c6a679e818d98399b7f4d81ade1126c3e0be74d28111ab ;;
  *) echo "ort/fetch.sh: no ONNX Runtime library for $(uname -s)/$(uname -m) in $spec" >&2; exit 1 ;;
esac
member=package/bin/napi-v6/linux/$arch/libonnxruntime.so.1

cache=${CORB_CACHE:-$HOME/.cache/corb}
out=$cache/ort/$version
lib=$out/libonnxruntime.so.1

die() { echo "ort/fetch.sh: $*" >&2; exit 1; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if sha_ok "$lib" "$sha"; then
  echo "$lib"
  exit 0
fi

command -v npm >/dev/null || die "needs npm (and node) to fetch $spec"
command -v node >/dev/null || die "needs node to check the tarball's integrity"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --ignore-scripts --silent "$spec" >"$tmp/pack.log" 2>&1) ||
  { cat "$tmp/pack.log" >&2; die "npm pack $spec failed"; }
tgz=$(ls "$tmp"/*.tgz 2>/dev/null | head -n1)
[ -n "$tgz" ] || die "npm pack $spec produced no tarball"

got=$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
[ "$got" = "$integrity" ] || die "$spec tarball integrity $got, want $integrity"

tar -xzf "$tgz" -C "$tmp" "$member" || die "$spec has no $member"
sha_ok "$tmp/$member" "$sha" || die "$member has sha256 $(sha256sum "$tmp/$member" | cut -d' ' -f1), want $sha"

mkdir -p "$out"
cp "$tmp/$member" "$lib.$$.part" # same folder, so the mv is atomic
chmod 0755 "$lib.$$.part"
mv "$lib.$$.part" "$lib"
ln -sfn libonnxruntime.so.1 "$out/libonnxruntime.so"
echo "$lib"
