"""A burst of 200 concurrent run creates against the real server: no 500, nothing lost, /healthz answers."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import live_server
from tests.support.training import COMMAND, FAKE_ENV, make_training_dir

pytestmark = pytest.mark.slow

CREATES = 200
KEY = "test-admin-key-000"


async def _burst(base: str) -> tuple[list[httpx.Response | Exception], list[float]]:
    headers = {"Authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=CREATES + 10, max_keepalive_connections=CREATES + 10)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as client:
        done = asyncio.Event()
        health: list[float] = []

        async def probe() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=30) as prober:
                while not done.is_set():
                    started = time.perf_counter()
                    response = await prober.get("/healthz")
                    assert response.status_code == 200
                    health.append(time.perf_counter() - started)
                    await asyncio.sleep(0.05)

        async def create(index: int) -> httpx.Response:
            return await client.post(
                "/projects/burst/runs", json={"env": {"FAKE_STEPS": "1"}, "note": str(index)}
            )

        prober = asyncio.create_task(probe())
        results = await asyncio.gather(*(create(i) for i in range(CREATES)), return_exceptions=True)
        done.set()
        await prober
        return results, health


def test_two_hundred_concurrent_creates_all_answer_and_all_start(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    training = make_training_dir(tmp_path / "training")
    extra = {
        "TUNING_TRAINING_DIR": str(training),
        "TUNING_TRAINING_WORKDIR": ".",
        "TUNING_TRAINING_COMMAND": json.dumps(COMMAND),
        "TUNING_MAX_CONCURRENT_RUNS": "2",
        "TUNING_MONITOR_INTERVAL": "0.1",
        "TUNING_ENV_ALLOWLIST": json.dumps(FAKE_ENV),
        "TUNING_LOG_LEVEL": "WARNING",
    }
    with live_server(database_url, tmp_path, **extra) as base:
        headers = {"Authorization": f"Bearer {KEY}"}
        created = httpx.post(
            f"{base}/projects",
            json={
                "name": "burst",
                "dataset_name": "data/train.jsonl",
                "training_yaml_name": "configs/sft.yaml",
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        started = time.perf_counter()
        results, health = asyncio.run(_burst(base))
        elapsed = time.perf_counter() - started

        errors = [r for r in results if isinstance(r, Exception)]
        statuses = [r.status_code for r in results if isinstance(r, httpx.Response)]
        assert not errors, errors[:3]
        assert statuses.count(500) == 0
        shed = [r for r in results if isinstance(r, httpx.Response) and r.status_code in (429, 503)]
        assert all("retry-after" in r.headers for r in shed)
        admitted = [r.json()["id"] for r in results if isinstance(r, httpx.Response) and r.status_code == 201]
        assert len(admitted) + len(shed) == CREATES, sorted(set(statuses))

        deadline = time.monotonic() + 300
        pending = set(admitted)
        final: dict[str, dict] = {}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            while pending and time.monotonic() < deadline:
                for run_id in list(pending):
                    run = client.get(f"/runs/{run_id}").json()
                    if run["status"] in ("succeeded", "failed", "cancelled"):
                        final[run_id] = run
                        pending.discard(run_id)
                time.sleep(0.5)
            assert not pending, f"{len(pending)} admitted run(s) never finished"
            assert {run["status"] for run in final.values()} == {"succeeded"}
            for run_id in admitted:
                lines = client.get(f"/runs/{run_id}/logs").json()["data"]
                starts = [line for line in lines if line["line"].startswith(f"run {run_id} config")]
                assert len(starts) == 1, f"{run_id} started {len(starts)} times"

    health.sort()
    p99 = health[int(len(health) * 0.99) - 1] if health else float("nan")
    with capsys.disabled():
        print(
            f"\nburst: {CREATES} creates in {elapsed:.1f} s, {len(admitted)} admitted, {len(shed)} shed, "
            f"0 x 500; /healthz p99 {p99 * 1000:.0f} ms over {len(health)} probes"
        )
