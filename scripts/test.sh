#!/usr/bin/env bash
# Run the test suite on a fresh machine with nothing run before it: create the
# virtual environment, install the server, trainer and SDK packages, Debian's
# Chromium for the browser tests and the private Docker engine for the
# docker-executor tests when it can, then pytest.
# Extra arguments go to pytest; TUNING_TEST_DATABASE=postgresql picks PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-trainer.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e sdk
# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser)
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "could not install chromium: the browser tests will skip (and fail under CI=1)" >&2
fi
if [ -z "${DOCKER_HOST:-}" ]; then
  if DOCKER_HOST=$(bash scripts/docker-test-engine.sh 2>/dev/null); then
    export DOCKER_HOST
  else
    unset DOCKER_HOST
    echo "no Docker engine: the docker-executor tests will skip (and fail under CI=1)" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
