"""What the Slurm client reads out of its tools' output: GPU indexes and queue positions."""

from __future__ import annotations

from src.utils.slurm import Job, _expand_indexes, _queue_positions


def _job(job_id: str, *, state: str = "PENDING", priority: int = 1, partition: str = "gpu") -> Job:
    return Job(
        job_id=job_id,
        name=f"run-{job_id}",
        state=state,
        reason="Resources",
        nodes="",
        priority=priority,
        partition=partition,
    )


def test_gres_indexes_from_scontrol_detail() -> None:
    assert _expand_indexes("gpu:2(IDX:0-1)") == [0, 1]
    assert _expand_indexes("gpu:a100:3(IDX:0,2-3)") == [0, 2, 3]
    assert _expand_indexes("gpu:0") == []


def test_queue_positions_by_priority_then_id_per_partition() -> None:
    jobs = [
        _job("10"),
        _job("11", priority=5),
        _job("12"),
        _job("13", state="RUNNING"),
        _job("14", partition="cpu"),
    ]
    assert _queue_positions(jobs) == {"11": 1, "10": 2, "12": 3, "14": 1}
