"""Benchmark: log ingestion lag and the cost of tailing long logs.

1. A run prints 200,000 lines as fast as it can; how long after the script ends
   is its last line queryable through the API (goal < 2 s)?
2. Reading the last 100 lines of a 1,000,000-line log against a 1,000-line log
   (goal ratio <= 10).

    .venv/bin/python -m bench.logs [--postgresql] [--lines 200000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from app.config import AuthSettings, BootstrapKey, ServerSettings, Settings, StoreSettings
from app.factory import create_app
from src.storage.tables import Project, Run, RunLog
from src.storage.types import utcnow
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.training import make_training_dir, training_settings

KEY = "bench-admin-key-0"
H = {"Authorization": f"Bearer {KEY}"}


def settings_for(url: str, work: Path) -> Settings:
    training = make_training_dir(work / "training")
    (training / "flood.sh").write_text('seq -f "line %.0f" 1 "$FLOOD_LINES"\n')
    return Settings(
        server=ServerSettings(log_level="WARNING"),
        store=StoreSettings(database_url=url, data_dir=work / "data"),
        auth=AuthSettings(api_keys=[BootstrapKey(key=KEY, owner="root", role="admin")]),
        training=training_settings(training, training_command=["sh", "flood.sh"], monitor_interval=0.2),
    )


def ingestion_lag(client: TestClient, lines: int) -> float:
    client.post(
        "/projects",
        json={"name": "flood", "dataset_name": "data/train.jsonl", "training_yaml_name": "configs/sft.yaml"},
        headers=H,
    )
    run = client.post("/projects/flood/runs", json={"env": {"FLOOD_LINES": str(lines)}}, headers=H).json()
    exit_file = Path(run["workspace"]) / "exit_code"
    while not exit_file.exists():
        time.sleep(0.005)
    ended = time.perf_counter()
    last = f"line {lines}"
    while True:
        tail = client.get(f"/runs/{run['id']}/logs?tail=1", headers=H).json()["data"]
        if tail and tail[-1]["line"] == last:
            return time.perf_counter() - ended
        time.sleep(0.01)


def seed_log(client: TestClient, run_id: str, count: int) -> None:
    store = client.app.state.store
    with store.session_scope() as session:
        project = session.query(Project).filter_by(name="flood").one()
        session.add(Run(id=run_id, project_id=project.id, owner="root", status="succeeded"))
        session.flush()
        now = utcnow()
        for start in range(0, count, 50_000):
            rows = [
                {
                    "run_id": run_id,
                    "seq": i,
                    "source": "output",
                    "tags": "",
                    "line": f"seeded line {i}",
                    "created_at": now,
                }
                for i in range(start + 1, min(start + 50_000, count) + 1)
            ]
            session.execute(insert(RunLog), rows)


def time_tail(client: TestClient, run_id: str, repeats: int = 200) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(f"/runs/{run_id}/logs?tail=100", headers=H)
        samples.append(time.perf_counter() - started)
        assert len(response.json()["data"]) == 100
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgresql", action="store_true", help="a throwaway database on TUNING_TEST_PG_SERVER"
    )
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = create_pg_database("bench_logs") if args.postgresql else f"sqlite:///{tmp}/logs.db"
        try:
            with TestClient(create_app(settings_for(url, Path(tmp)))) as client:
                lag = ingestion_lag(client, args.lines)
                small, large = "run-" + "0" * 27 + "1", "run-" + "0" * 27 + "2"
                seed_log(client, small, 1_000)
                seed_log(client, large, 1_000_000)
                small_tail, large_tail = time_tail(client, small), time_tail(client, large)
        finally:
            if args.postgresql:
                drop_pg_database(url)
    print(f"{args.lines} lines printed: last line queryable {lag:.2f} s after the script ended (goal < 2 s)")
    print(
        f"tail=100: {small_tail * 1000:.2f} ms on 1,000 lines, "
        f"{large_tail * 1000:.2f} ms on 1,000,000 lines; ratio {large_tail / small_tail:.2f} (goal <= 10)"
    )


if __name__ == "__main__":
    main()
