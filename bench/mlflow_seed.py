"""Seed an MLflow tracking store like bench/api_throughput.py seeds ours; run by the MLflow venv's Python.

    /opt/bench-mlflow/bin/python bench/mlflow_seed.py DB_URI ARTIFACT_ROOT SIZES_JSON

Experiments stand for projects (same counts of runs each, one listed experiment
with `runs_in_listed_project` runs, two holding the tuning-job runs); every run
has 5 params and 3 tags; the runs that have logs and metrics in ours get
`metric_steps` steps of 4 metrics and their latest values. Prints one JSON line:
a run with metrics to `runs/get` and the listed experiment's id to `runs/search`.
Imports nothing from the project: it runs in MLflow's own environment.
"""

from __future__ import annotations

import json
import sys
import time
import uuid

from mlflow.store.tracking.dbmodels.models import (
    SqlExperiment,
    SqlLatestMetric,
    SqlMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

BATCH = 5_000
METRICS = ("loss", "learning_rate", "grad_norm", "epoch")


def main() -> None:
    db_uri, artifact_root, raw = sys.argv[1], sys.argv[2], sys.argv[3]
    sizes = json.loads(raw)
    store = SqlAlchemyStore(db_uri, artifact_root)  # creates the schema with MLflow's migrations
    now = int(time.time() * 1000)
    experiments = [f"p{i:06d}" for i in range(sizes["projects"])] + ["listed", "tunings-alice", "tunings-bob"]
    with Session(store.engine) as session, session.begin():
        for start in range(0, len(experiments), BATCH):
            session.execute(
                insert(SqlExperiment),
                [
                    {
                        "name": name,
                        "artifact_location": f"{artifact_root}/{name}",
                        "lifecycle_stage": "active",
                        "creation_time": now,
                        "last_update_time": now,
                    }
                    for name in experiments[start : start + BATCH]
                ],
            )
        ids = dict(session.execute(select(SqlExperiment.name, SqlExperiment.experiment_id)).all())
        placement = [
            ids[f"p{i:06d}"] for i in range(sizes["projects"]) for _ in range(sizes["runs_per_project"])
        ]
        placement += [ids["listed"]] * sizes["runs_in_listed_project"]
        placement += [
            ids["tunings-alice" if j % 2 == 0 else "tunings-bob"] for j in range(sizes["tuning_jobs"])
        ]
        run_ids = [uuid.UUID(int=n).hex for n in range(len(placement))]
        first_job = len(placement) - sizes["tuning_jobs"]
        with_metrics = run_ids[: sizes["runs_with_logs"]] + run_ids[first_job:]
        runs, params, tags = [], [], []
        for n, (run_id, experiment_id) in enumerate(zip(run_ids, placement, strict=True)):
            runs.append(
                {
                    "run_uuid": run_id,
                    "name": f"run-{n}",
                    "source_type": "LOCAL",
                    "source_name": "train.py",
                    "entry_point_name": "",
                    "user_id": "alice" if n % 2 == 0 else "bob",
                    "status": "FINISHED",
                    "start_time": now - n,
                    "end_time": now,
                    "source_version": "",
                    "lifecycle_stage": "active",
                    "artifact_uri": f"{artifact_root}/{experiment_id}/{run_id}/artifacts",
                    "experiment_id": experiment_id,
                }
            )
            params += [
                {"key": key, "value": value, "run_uuid": run_id}
                for key, value in (
                    ("epochs", "3"),
                    ("learning_rate", "0.0001"),
                    ("batch_size", "8"),
                    ("dataset", "data/train.jsonl"),
                    ("config", "configs/sft.yaml"),
                )
            ]
            tags += [
                {"key": key, "value": value, "run_uuid": run_id}
                for key, value in (
                    ("mlflow.user", "alice" if n % 2 == 0 else "bob"),
                    ("mlflow.source.name", "train.py"),
                    ("mlflow.runName", f"run-{n}"),
                )
            ]
        for table, rows in ((SqlRun, runs), (SqlParam, params), (SqlTag, tags)):
            for start in range(0, len(rows), BATCH):
                session.execute(insert(table), rows[start : start + BATCH])
        steps = sizes["metric_steps"]
        for start in range(0, len(with_metrics), 100):
            chunk = with_metrics[start : start + 100]
            session.execute(
                insert(SqlMetric),
                [
                    {
                        "key": key,
                        "value": 2.0 / step,
                        "timestamp": now,
                        "step": step,
                        "is_nan": False,
                        "run_uuid": r,
                    }
                    for r in chunk
                    for step in range(1, steps + 1)
                    for key in METRICS
                ],
            )
            session.execute(
                insert(SqlLatestMetric),
                [
                    {
                        "key": key,
                        "value": 2.0 / steps,
                        "timestamp": now,
                        "step": steps,
                        "is_nan": False,
                        "run_uuid": r,
                    }
                    for r in chunk
                    for key in METRICS
                ],
            )
    print(json.dumps({"run_id": run_ids[0], "listed_experiment_id": str(ids["listed"])}))


if __name__ == "__main__":
    main()
