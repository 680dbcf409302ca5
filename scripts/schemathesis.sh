#!/usr/bin/env bash
# Fuzz the running API against its own OpenAPI schema with every Schemathesis check.
# Starts the server on a throwaway SQLite database, runs `st run --checks all`,
# stops the server, and exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
ST=${ST:-.venv/bin/st}
work=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key="schemathesis-admin-key"

TUNING_DATABASE_URL="sqlite:///$work/st.db" TUNING_DATA_DIR="$work/data" TUNING_PORT="$port" \
  TUNING_TRAINING_DIR="$work/training" TUNING_DEMO_MODEL=0 \
  TUNING_API_KEYS="[\"$key\"]" TUNING_LOG_LEVEL=WARNING PYTHONPATH="$PWD" \
  TUNING_RATE_LIMITS='{"tunings": "100000/minute", "files": "100000/minute"}' \
  $PY main.py >"${ST_SERVER_LOG:-$work/server.log}" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT

# up to 120 s: a loaded machine starts slowly, and the fuzz must not begin before the server
for _ in $(seq 1 600); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

$ST run "http://127.0.0.1:$port/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $key" \
  --max-examples "${ST_MAX_EXAMPLES:-50}" \
  --generation-deterministic \
  --no-color
