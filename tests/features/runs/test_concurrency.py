"""Fifty runs created at once with max_concurrent_runs=2: never more than two at a time, none twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.factory import build_engine
from tests.features.runs.conftest import ALICE, wait_for_status

RUNS = 50


def max_overlap(events: list[tuple[str, str]]) -> int:
    running, peak = 0, 0
    for kind, _run_id in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    return peak


def test_fifty_concurrent_creates_respect_the_limit(runs_client, tmp_path: Path) -> None:
    """Two engines (the service's and a second one, as a separate worker would be) share one database."""
    marks = tmp_path / "marks.log"
    client = runs_client(max_concurrent_runs=2, monitor_interval=0.05)
    state = client.app.state
    second = build_engine(state.store, state.settings, layout=state.training_layout)
    second.start()
    body = {"env": {"FAKE_STEPS": "1", "FAKE_SLEEP": "0.05", "FAKE_MARK": str(marks)}}

    def create(_: int) -> str:
        response = client.post("/projects/demo/runs", json=body, headers=ALICE)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(RUNS)))
    assert len(set(ids)) == RUNS
    try:
        for run_id in ids:
            assert wait_for_status(client, run_id, timeout=120)["status"] == "succeeded"
    finally:
        second.stop()

    events = [tuple(line.split()) for line in marks.read_text().splitlines()]
    starts = [run_id for kind, run_id in events if kind == "start"]
    assert sorted(starts) == sorted(ids), "every run started exactly once"
    assert max_overlap(events) <= 2
    for run_id in ids[:10]:
        lines = client.get(f"/runs/{run_id}/logs", headers=ALICE).json()["data"]
        assert len(lines) == 4, "a second monitor must not store a line twice"
