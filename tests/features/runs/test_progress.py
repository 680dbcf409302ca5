"""Progress and metrics parsers on the real formats trainers print."""

from __future__ import annotations

import pytest

from src.features.runs.engine import artifact_kind
from src.features.runs.progress import (
    looks_like_data_error,
    looks_like_oom,
    parse_output_line,
    parse_trainer_log_line,
)


def test_hugging_face_dict_line() -> None:
    line = "{'loss': 1.23, 'grad_norm': 0.5, 'learning_rate': 2e-05, 'epoch': 0.5}"
    progress, sample = parse_output_line(line)
    assert (sample.loss, sample.grad_norm, sample.lr, sample.epoch) == (1.23, 0.5, 2e-05, 0.5)
    assert progress.epoch == 0.5


def test_transformers_5_quotes_its_numbers() -> None:
    line = "{'loss': '5.791', 'grad_norm': '1.2', 'learning_rate': '0.0001', 'epoch': '0.1'}"
    _, sample = parse_output_line(line)
    assert (sample.loss, sample.grad_norm, sample.lr, sample.epoch) == (5.791, 1.2, 0.0001, 0.1)


def test_training_summary_line_gives_throughput() -> None:
    line = "{'train_runtime': '0.14', 'train_samples_per_second': '329.7', 'train_loss': '3.9'}"
    _, sample = parse_output_line(line)
    assert (sample.loss, sample.throughput) == (3.9, 329.7)


@pytest.mark.parametrize(
    ("line", "step", "total"),
    [
        (" 12/100 [00:10<01:20, 1.2it/s]", 12, 100),
        ("Epoch 1:  45%|████▌     | 45/100 [01:02<01:15,  1.38s/it]", 45, 100),
        ("100%|██████████| 12/12 [00:00<00:00, 82.54it/s]", 12, 12),
        ("  3/10 [1:02:03<2:00:00, 60.1s/it]", 3, 10),
    ],
)
def test_tqdm_counters(line: str, step: int, total: int) -> None:
    progress, sample = parse_output_line(line)
    assert (progress.current_step, progress.total_steps, progress.fraction) == (step, total, step / total)
    assert sample is None


def test_lines_that_are_not_progress() -> None:
    assert parse_output_line("loading 3/4 shards") == (None, None)
    assert parse_output_line("{'not': 'metrics'}") == (None, None)
    assert parse_output_line("{'loss': __import__('os')}") == (None, None)


def test_llamafactory_trainer_log() -> None:
    line = (
        '{"current_steps": 10, "total_steps": 100, "loss": 1.5, "eval_loss": null, "learning_rate": 1e-05, '
        '"epoch": 0.1, "percentage": 10.0, "elapsed_time": "0:00:10", "remaining_time": "0:01:30"}'
    )
    progress, sample = parse_trainer_log_line(line)
    assert (progress.current_step, progress.total_steps, progress.fraction) == (10, 100, 0.1)
    assert (sample.step, sample.loss, sample.lr, sample.eval_loss) == (10, 1.5, 1e-05, None)
    assert sample.extra["remaining_time"] == "0:01:30"


def test_trainer_log_with_null_loss_and_no_metrics() -> None:
    progress, sample = parse_trainer_log_line(
        '{"current_steps": 5, "total_steps": 50, "loss": null, "epoch": 1}'
    )
    assert progress.current_step == 5 and sample is None
    assert parse_trainer_log_line("not json") == (None, None)


def test_failure_heuristics() -> None:
    assert looks_like_oom(["x", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"])
    assert not looks_like_oom(["all good"])
    assert looks_like_data_error(["ValueError: Cannot find valid samples, check `data/README.md`."])


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("adapter_model.safetensors", "adapter"),
        ("checkpoint-100/optimizer.pt", "checkpoint"),
        ("model-00001-of-00002.safetensors", "model"),
        ("trainer_log.jsonl", "log"),
        ("tokenizer_config.json", "config"),
        ("README.md", "other"),
    ],
)
def test_artifact_kinds(path: str, kind: str) -> None:
    assert artifact_kind(path) == kind


def test_progress_never_goes_back_when_sources_disagree() -> None:
    from src.features.runs.engine import _apply_progress
    from src.features.runs.progress import Progress
    from src.storage.tables import Run

    run = Run(progress=0.0)
    _apply_progress(
        run, [Progress(fraction=0.6667), Progress(current_step=8, total_steps=12, fraction=8 / 12)]
    )
    assert run.progress == 0.6667 and run.current_step == 8
    exact, _ = parse_trainer_log_line('{"current_steps": 8, "total_steps": 12, "percentage": 66.67}')
    assert exact.fraction == 8 / 12
