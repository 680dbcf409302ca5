#!/usr/bin/env bash
# tinker-cookbook in a virtual environment of its own (.venv-cookbook/), for the
# opt-in cookbook test: its transformers pin clashes with the trainer's.
# Idempotent (redone only when requirements-cookbook.txt changes); prints the Python to use.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TUNING_COOKBOOK_VENV:-$PWD/.venv-cookbook}
requirements=$PWD/requirements-cookbook.txt
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
  # every package is pinned, so pip resolves nothing and fetches only what is listed
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$requirements" >&2
  "$venv/bin/python" -m pip check >&2
  echo "$wanted" >"$stamp"
fi
echo "$venv/bin/python"
