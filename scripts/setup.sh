#!/usr/bin/env bash
# Create .venv and install the pinned requirements, server and trainer (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
# As root, children run as the unprivileged `tuning` user, which must be able to run
# this environment's Python: the system Python qualifies, one under /root does not.
if [ -z "${PYTHON:-}" ] && [ "$(id -u)" = 0 ] && [ -x /usr/bin/python3 ]; then
  PYTHON=/usr/bin/python3
fi
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# the bundled trainer (recipes/sft_lora.py) and the demo model it fine-tunes out of the box
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-trainer.txt
# When the service runs as root, training commands and model servers run as this
# unprivileged user (TUNING_RUN_AS_USER, default `tuning`).
if [ "$(id -u)" = 0 ] && ! id -u tuning >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin tuning
fi
