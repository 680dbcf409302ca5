"""Shared options of the examples: which server, model and training file to use."""

from __future__ import annotations

import argparse
import os


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=os.environ.get("TUNING_BASE_URL", "http://localhost:8000"))
    parser.add_argument("--api-key", default=os.environ.get("TUNING_API_KEY"))
    parser.add_argument(
        "--model",
        default=os.environ.get("TUNING_EXAMPLE_MODEL", "Qwen/Qwen2-0.5B-Instruct"),
        help="a base model name from the server's catalog",
    )
    parser.add_argument(
        "--training-file",
        default=os.environ.get("TUNING_EXAMPLE_FILE", "train.jsonl"),
        help="a local .jsonl training file to upload",
    )
    parser.add_argument("--epochs", type=float, default=float(os.environ.get("TUNING_EXAMPLE_EPOCHS", "1")))
