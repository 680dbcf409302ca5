#!/usr/bin/env bash
# Create .venv and install the pinned requirements (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# When the service runs as root, training commands and model servers run as this
# unprivileged user (TUNING_RUN_AS_USER, default `tuning`).
if [ "$(id -u)" = 0 ] && ! id -u tuning >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin tuning
fi
