"""Parse training progress and metrics from the formats real trainers write.

- LLaMA-Factory's `trainer_log.jsonl`: `current_steps, total_steps, loss, eval_loss,
  lr` (older: `learning_rate`), `epoch, percentage, elapsed_time, remaining_time`;
  `loss` may be null.
- Hugging Face Trainer log lines: `{'loss': 1.23, 'grad_norm': 0.5, 'learning_rate': 2e-05, 'epoch': 0.5}`.
- tqdm counters: `12/100 [00:10<01:20, 1.2it/s]`; only the training loop's bar counts
  (no description, or one that names training), never a loading, download or evaluation bar.

The end-of-training summary (`{'train_runtime': …, 'train_loss': …}`) is a `MetricSample`
with `summary=True`: it describes the whole run, not a step.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

_TQDM = re.compile(r"(?<![\d/])(\d+)/(\d+) \[(?:\d+:)?\d+:\d+<")
# what precedes the counter in tqdm's default format: `desc: 45%|████▌     | `
_TQDM_BAR = re.compile(r"\s*\d{1,3}%\|[^|]*\|\s*$")
_TRAINING_BAR = re.compile(r"epoch|train|step|iter|fine.?tun", re.I)
_OTHER_BAR = re.compile(
    r"load|download|fetch|upload|eval|predict|test|valid|infer|map|tokeni[sz]|shard|writ|sav|"
    r"convert|generat|filter|process|extract|merg|quantiz|compil|build|\.[a-z]{2,12}\b",
    re.I,
)
_HF_DICT = re.compile(r"\{'[a-z_]+': .*\}")
_OOM = re.compile(
    r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|Killed process .* out of memory", re.I
)
_DATA_ERROR = re.compile(
    r"Cannot find valid samples|DatasetGenerationError|Undefined dataset|dataset_info\.json|"
    r"Unknown dataset format|JSONDecodeError.*dataset|No such file or directory.*\.jsonl?",
    re.I,
)
_METRIC_KEYS = {"loss", "eval_loss", "grad_norm", "epoch"}
_SUMMARY_KEYS = {"train_runtime", "train_loss", "train_samples_per_second", "train_steps_per_second"}


@dataclass
class Progress:
    """Where training stands, and which kind of source said so (`trainer_log`, `log_dict`, `tqdm`)."""

    kind: str = "tqdm"
    current_step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    fraction: float | None = None


@dataclass
class MetricSample:
    source: str
    step: int | None = None
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    throughput: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    summary: bool = False
    step_given: bool = True  # False when the step was inferred from the tqdm bar drawn before it

    def summary_values(self) -> dict[str, float]:
        """The numbers of an end-of-training summary, under the trainer's own names."""
        values = {k: number for k, v in self.extra.items() if (number := _number(v)) is not None}
        if self.epoch is not None:
            values["epoch"] = self.epoch
        return values


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def parse_trainer_log_line(line: str) -> tuple[Progress | None, MetricSample | None]:
    """One line of LLaMA-Factory's trainer_log.jsonl."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None, None
    if not isinstance(record, dict):
        return None, None
    step, total = _int(record.get("current_steps")), _int(record.get("total_steps"))
    percentage = _number(record.get("percentage"))
    # the exact step ratio beats the rounded percentage, and agrees with tqdm's counters
    fraction = (
        step / total if step is not None and total else (percentage / 100 if percentage is not None else None)
    )
    progress = Progress(
        kind="trainer_log",
        current_step=step,
        total_steps=total,
        epoch=_number(record.get("epoch")),
        fraction=fraction,
    )
    known = {
        "current_steps",
        "total_steps",
        "loss",
        "eval_loss",
        "lr",
        "learning_rate",
        "epoch",
        "percentage",
        "throughput",
        "grad_norm",
    }
    sample = MetricSample(
        source="trainer_log",
        step=step,
        epoch=progress.epoch,
        loss=_number(record.get("loss")),
        eval_loss=_number(record.get("eval_loss")),
        lr=_number(record.get("lr", record.get("learning_rate"))),
        grad_norm=_number(record.get("grad_norm")),
        throughput=_number(record.get("throughput")),
        extra={k: v for k, v in record.items() if k not in known and isinstance(v, (int, float, str))},
    )
    has_metric = any(v is not None for v in (sample.loss, sample.eval_loss, sample.lr, sample.grad_norm))
    return progress, sample if has_metric else None


def parse_output_line(line: str) -> tuple[Progress | None, MetricSample | None]:
    """A line of the training script's output: a Hugging Face log dict or the training loop's tqdm counter."""
    match = _HF_DICT.search(line)
    if match:
        try:
            record = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            record = None
        if isinstance(record, dict) and (_METRIC_KEYS | {"learning_rate"} | _SUMMARY_KEYS) & record.keys():
            return _parse_log_dict(record)
    counters = list(_TQDM.finditer(line))
    if counters:
        last = counters[-1]
        step, total = int(last.group(1)), int(last.group(2))
        if total > 0 and step <= total and is_training_bar(tqdm_description(line[: last.start()])):
            return Progress(kind="tqdm", current_step=step, total_steps=total, fraction=step / total), None
    return None, None


def _parse_log_dict(record: dict[str, Any]) -> tuple[Progress, MetricSample]:
    summary = "train_runtime" in record or ("train_loss" in record and "loss" not in record)
    sample = MetricSample(
        source="output",
        step=_int(record.get("step")),
        epoch=_number(record.get("epoch")),
        loss=_number(record.get("loss", record.get("train_loss"))),
        eval_loss=_number(record.get("eval_loss")),
        lr=_number(record.get("learning_rate")),
        grad_norm=_number(record.get("grad_norm")),
        throughput=_number(record.get("train_samples_per_second", record.get("eval_samples_per_second"))),
        # transformers 5 prints its numbers quoted
        extra={
            k: number
            for k, v in record.items()
            if k not in _METRIC_KEYS | {"learning_rate", "step"}
            and isinstance(v, (int, float, str))
            and (number := _number(v)) is not None
        },
        summary=summary,
    )
    step = None if summary else sample.step
    return Progress(kind="log_dict", current_step=step, epoch=sample.epoch), sample


def tqdm_description(prefix: str) -> str:
    """The `desc` of a tqdm line, from the text before its `n/total` counter."""
    return _TQDM_BAR.sub("", prefix).strip().rstrip(":").strip()


def is_training_bar(description: str) -> bool:
    """Whether a tqdm bar with this description can be the training loop's.

    The Hugging Face Trainer's bar has no description; loading, download, dataset and
    evaluation bars name what they do (`Loading weights`, `Map`, `model.safetensors`).
    """
    if not description:
        return True
    return bool(_TRAINING_BAR.search(description)) and not _OTHER_BAR.search(description)


def looks_like_oom(lines: list[str]) -> bool:
    return any(_OOM.search(line) for line in lines)


def looks_like_data_error(lines: list[str]) -> bool:
    return any(_DATA_ERROR.search(line) for line in lines)
