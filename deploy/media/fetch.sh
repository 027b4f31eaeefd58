#!/usr/bin/env bash
# Fetches Corb's sample media from Debian packages into ${CORB_CACHE:-~/.cache/corb}/media
# and prints that directory. Idempotent: when every file is present with its recorded
# sha256, nothing is downloaded.
#
#   opencv-doc (4.6.0+dfsg-12, bookworm): examples/data/vtest.avi  pedestrians, 768x576, 10 fps, 795 frames
#                                         examples/data/messi5.jpg  one person (football)
#   darknet (0.0.0+git20180914.61c9d02e-2+b4): data/person.jpg  person, dog and horse
#                                              data/kite.jpg    people on a beach, kites
#                                              data/dog.jpg     dog, bicycle, truck: no person
#
# The sha256 of each extracted file is the pin: a different package build that ships the
# same files is accepted, one that ships different bytes is refused.
set -euo pipefail

cache=${CORB_CACHE:-$HOME/.cache/corb}
out=$cache/media

# name  sha256  package  path-in-package (a .gz sibling is also accepted)
manifest='
vtest.avi  45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf opencv-doc usr/share/doc/opencv-doc/examples/data/vtest.avi
messi5.jpg 1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9 opencv-doc usr/share/doc/opencv-doc/examples/data/messi5.jpg
person.jpg cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1 darknet    usr/share/darknet/data/person.jpg
kite.jpg   87410f52f79cc256c3949b48a3548632c07c8e9943468ef8caa6250f6643be8e darknet    usr/share/darknet/data/kite.jpg
dog.jpg    5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866 darknet    usr/share/darknet/data/dog.jpg
'

die() { echo "media/fetch.sh: $*" >&2; exit 1; }

sha_ok() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

all_present() {
  local name sha pkg path
  while read -r name sha pkg path; do
    [ -n "$name" ] || continue
    sha_ok "$out/$name" "$sha" || return 1
  done <<<"$manifest"
}

if all_present; then
  echo "$out"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || die "needs $tool (a Debian-based system)"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

pkgs=$(awk 'NF { print $3 }' <<<"$manifest" | sort -u | tr '\n' ' ')

# apt-cache knows nothing before the first `apt-get update` on a fresh machine.
known() { for p in $pkgs; do apt-cache show "$p" >/dev/null 2>&1 || return 1; done; }
if ! known; then
  echo "media/fetch.sh: apt-get update (package lists missing)" >&2
  apt-get update -qq >&2 || die "apt-get update failed (are you root?)"
  known || die "apt does not know the packages: $pkgs"
fi

# apt-get download warns when _apt cannot write into the folder; downloading still works as root.
if ! (cd "$tmp" && apt-get download -q $pkgs >"$tmp/apt.log" 2>&1); then
  cat "$tmp/apt.log" >&2
  die "apt-get download $pkgs failed"
fi
for deb in "$tmp"/*.deb; do
  dpkg-deb -x "$deb" "$tmp/root" || die "cannot extract $deb"
done

mkdir -p "$out"
while read -r name sha pkg path; do
  [ -n "$name" ] || continue
  src=$tmp/root/$path
  part=$out/.$name.$$.part # unique: concurrent runs must not share a partial file
  if [ -f "$src" ]; then
    cp "$src" "$part"
  elif [ -f "$src.gz" ]; then
    gzip -dc "$src.gz" >"$part"
  else
    die "$pkg does not contain $path (nor $path.gz)"
  fi
  if ! sha_ok "$part" "$sha"; then
    got=$(sha256sum "$part" | cut -d' ' -f1)
    rm -f "$part"
    die "$name from $pkg has sha256 $got, want $sha"
  fi
  mv "$part" "$out/$name"
done <<<"$manifest"

echo "$out"
