#!/usr/bin/env bash
# Creates (once) a Python virtualenv with Corb's pinned Python tools and prints its
# bin directory. Cached under ${CORB_CACHE:-~/.cache/corb}/venv, rebuilt when
# requirements.txt changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${CORB_CACHE:-$HOME/.cache/corb}
venv=$cache/venv
req=$here/requirements.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin"
