#!/usr/bin/env bash
# Set everything up and start the service on its embedded defaults
# (127.0.0.1:8000, SQLite ./training.db, blobs in ./data, API keys on).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python main.py
