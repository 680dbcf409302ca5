"""Progress and metrics parsers on the real formats trainers print."""

from __future__ import annotations

import pytest

from src.features.runs.artifacts import artifact_kind
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


def test_training_summary_line_is_a_summary_not_a_step() -> None:
    line = (
        "{'train_runtime': '12.61', 'train_samples_per_second': '2.538', 'train_steps_per_second': '0.634', "
        "'train_loss': '4.874', 'epoch': '2'}"
    )
    progress, sample = parse_output_line(line)
    assert sample.summary and (sample.loss, sample.throughput) == (4.874, 2.538)
    assert sample.summary_values() == {
        "train_runtime": 12.61,
        "train_samples_per_second": 2.538,
        "train_steps_per_second": 0.634,
        "train_loss": 4.874,
        "epoch": 2.0,
    }
    assert progress.current_step is None
    older = (
        "{'train_runtime': 0.14, 'train_samples_per_second': 329.7, 'train_loss': 3.9, 'total_flos': 12.0}"
    )
    assert parse_output_line(older)[1].summary_values()["total_flos"] == 12.0


def test_a_training_step_dict_is_not_a_summary() -> None:
    _, sample = parse_output_line(
        "{'loss': '4.897', 'grad_norm': '1.369', 'learning_rate': '0.0001', 'epoch': '0.25'}"
    )
    assert not sample.summary and sample.step is None and sample.extra == {}
    _, evaluation = parse_output_line("{'eval_loss': '2.1', 'eval_runtime': '0.1', 'epoch': '1.0'}")
    assert not evaluation.summary and evaluation.eval_loss == 2.1
    progress, with_step = parse_output_line("{'loss': 0.5, 'learning_rate': 1e-05, 'epoch': 0.5, 'step': 7}")
    assert with_step.step == 7 and progress.current_step == 7


@pytest.mark.parametrize(
    ("line", "step", "total"),
    [
        (" 12/100 [00:10<01:20, 1.2it/s]", 12, 100),
        ("Epoch 1:  45%|████▌     | 45/100 [01:02<01:15,  1.38s/it]", 45, 100),
        ("100%|██████████| 12/12 [00:00<00:00, 82.54it/s]", 12, 12),
        ("  3/10 [1:02:03<2:00:00, 60.1s/it]", 3, 10),
        # transformers' Trainer bar, as the bundled recipe prints it (no description)
        (" 12%|█▎        | 1/8 [00:00<00:03,  1.89it/s]", 1, 8),
        ("Training:  10%|█         | 10/100 [00:10<01:30,  1.00it/s]", 10, 100),
    ],
)
def test_tqdm_counters(line: str, step: int, total: int) -> None:
    progress, sample = parse_output_line(line)
    assert (progress.current_step, progress.total_steps, progress.fraction) == (step, total, step / total)
    assert sample is None


@pytest.mark.parametrize(
    "line",
    [
        "Loading weights: 100%|██████████| 21/21 [00:00<00:00, 12291.43it/s]",
        "Loading weights:   0%|          | 0/21 [00:00<?, ?it/s]",
        "Loading checkpoint shards: 100%|██████████| 2/2 [00:01<00:00,  1.50it/s]",
        "Fetching 3 files: 100%|██████████| 3/3 [00:00<00:00,  9.12it/s]",
        "Downloading shards: 50%|█████     | 1/2 [00:10<00:10, 10.0s/it]",
        "model-00001-of-00002.safetensors: 100%|██████████| 2/2 [00:01<00:00,  1.9it/s]",
        "Map: 100%|██████████| 16/16 [00:00<00:00, 1234.50 examples/s]",
        "Running tokenizer on dataset (num_proc=16): 100%|██████████| 16/16 [00:00<00:00, 88.2 examples/s]",
        "Converting format of dataset (num_proc=16): 100%|██████████| 16/16 [00:00<00:00, 99.1 examples/s]",
        "Generating train split: 100%|██████████| 16/16 [00:00<00:00, 3000.0 examples/s]",
        "Writing model shards: 100%|██████████| 1/1 [00:00<00:00, 111.74it/s]",
        "Evaluating: 50%|█████     | 1/2 [00:00<00:00,  9.1it/s]",
        "Epoch 1 eval: 50%|█████     | 1/2 [00:00<00:00,  9.1it/s]",
    ],
)
def test_loading_download_dataset_and_evaluation_bars_are_not_training(line: str) -> None:
    assert parse_output_line(line) == (None, None)


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


def test_bundled_recipe_and_llamafactory_trainer_log_lines() -> None:
    recipe = (
        '{"current_steps": 3, "total_steps": 8, "loss": 4.881304740905762, "eval_loss": null, '
        '"lr": 7.500000000000001e-05, "epoch": 0.75, "percentage": 37.5, "elapsed_time": "0:00:02", '
        '"remaining_time": "0:00:03"}'
    )
    progress, sample = parse_trainer_log_line(recipe)
    assert (progress.kind, progress.current_step, progress.total_steps, progress.fraction) == (
        "trainer_log",
        3,
        8,
        3 / 8,
    )
    assert (sample.source, sample.step, sample.loss, sample.epoch) == (
        "trainer_log",
        3,
        4.881304740905762,
        0.75,
    )
    # LLaMA-Factory drops null values; an evaluation record carries eval_loss only
    evaluation = (
        '{"current_steps": 100, "total_steps": 200, "eval_loss": 1.25, "epoch": 1.0, "percentage": 50.0}'
    )
    _, eval_sample = parse_trainer_log_line(evaluation)
    assert (eval_sample.step, eval_sample.loss, eval_sample.eval_loss) == (100, None, 1.25)
    # the record LLaMA-Factory writes for the final summary has no metric: no point, only progress
    final, nothing = parse_trainer_log_line(
        '{"current_steps": 200, "total_steps": 200, "epoch": 2.0, "percentage": 100.0}'
    )
    assert nothing is None and final.fraction == 1.0


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
    from src.features.runs.ingest import _apply_progress
    from src.features.runs.progress import Progress
    from src.storage.tables import Run

    run = Run(progress=0.0)
    _apply_progress(
        run, [Progress(fraction=0.6667), Progress(current_step=8, total_steps=12, fraction=8 / 12)]
    )
    assert run.progress == 0.6667 and run.current_step == 8
    exact, _ = parse_trainer_log_line('{"current_steps": 8, "total_steps": 12, "percentage": 66.67}')
    assert exact.fraction == 8 / 12


REAL_OUTPUT = [
    "Loading weights:   0%|          | 0/21 [00:00<?, ?it/s]",
    "Loading weights: 100%|██████████| 21/21 [00:00<00:00, 12291.43it/s]",
    "  0%|          | 0/8 [00:00<?, ?it/s]",
    " 12%|█▎        | 1/8 [00:00<00:03,  1.89it/s]",
    "{'loss': '4.897', 'grad_norm': '1.369', 'learning_rate': '0.0001', 'epoch': '0.25'}",
    " 12%|█▎        | 1/8 [00:00<00:03,  1.89it/s]",
    " 25%|██▌       | 2/8 [00:00<00:02,  2.50it/s]",
    "{'loss': '4.889', 'grad_norm': '1.371', 'learning_rate': '8.75e-05', 'epoch': '0.5'}",
    " 33%|███▎      | 1/3 [00:00<00:00,  9.10it/s]",
    "{'eval_loss': '4.95', 'eval_runtime': '0.3', 'epoch': '0.5'}",
    " 38%|███▊      | 3/8 [00:01<00:02,  1.96it/s]",
    "{'loss': '4.881', 'grad_norm': '1.386', 'learning_rate': '7.5e-05', 'epoch': '0.75'}",
    "{'train_runtime': '12.61', 'train_samples_per_second': '2.538', 'train_loss': '4.874', 'epoch': '2'}",
]


def test_output_steps_come_from_the_training_bar_only() -> None:
    from src.features.runs.ingest import _apply_progress, _parse_output
    from src.storage.tables import Run

    run = Run(progress=0.0)
    progress, samples, summary = _parse_output(run, REAL_OUTPUT)
    _apply_progress(run, progress)
    assert (run.total_steps, run.current_step, run.output_step) == (8, 3, 3)
    assert run.progress == 3 / 8
    assert [(s.step, s.loss, s.eval_loss) for s in samples] == [
        (1, 4.897, None),
        (2, 4.889, None),
        (2, None, 4.95),
        (3, 4.881, None),
    ]
    assert summary["train_loss"] == 4.874 and summary["train_runtime"] == 12.61


def test_a_dict_after_a_pass_boundary_keeps_its_step() -> None:
    from src.features.runs.ingest import _parse_output
    from src.storage.tables import Run

    run = Run(progress=0.0)
    _parse_output(run, REAL_OUTPUT[:4])
    _, samples, _ = _parse_output(run, REAL_OUTPUT[4:5])
    assert samples[0].step == 1


def test_progress_below_one_until_the_run_succeeds() -> None:
    from src.features.runs.ingest import MAX_RUNNING_PROGRESS, _apply_progress
    from src.features.runs.progress import Progress
    from src.storage.tables import Run

    run = Run(progress=0.0)
    _apply_progress(run, [Progress(kind="trainer_log", current_step=8, total_steps=8, fraction=1.0)])
    assert run.progress == MAX_RUNNING_PROGRESS < 1.0
    _apply_progress(
        run, [Progress(kind="trainer_log", current_step=2, total_steps=8, fraction=0.25, epoch=0.5)]
    )
    assert (run.progress, run.current_step) == (MAX_RUNNING_PROGRESS, 8)
