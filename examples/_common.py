"""Shared options of the examples: which server, model and training file to use."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# the base model every server builds on its first start (TUNING_DEMO_MODEL), so the examples
# run against a fresh server as they are; --model names another from `tuning models list`
DEFAULT_MODEL = "tuning/tiny-demo"
DEFAULT_TRAINING_FILE = Path(__file__).resolve().parent / "data" / "chat.jsonl"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=os.environ.get("TUNING_BASE_URL", "http://localhost:8000"))
    parser.add_argument("--api-key", default=os.environ.get("TUNING_API_KEY"))
    parser.add_argument(
        "--model",
        default=os.environ.get("TUNING_EXAMPLE_MODEL", DEFAULT_MODEL),
        help=f"a base model name from the server's catalog (default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--training-file",
        default=os.environ.get("TUNING_EXAMPLE_FILE", str(DEFAULT_TRAINING_FILE)),
        help="a local .jsonl training file to upload (default examples/data/chat.jsonl)",
    )
    parser.add_argument("--epochs", type=float, default=float(os.environ.get("TUNING_EXAMPLE_EPOCHS", "1")))
