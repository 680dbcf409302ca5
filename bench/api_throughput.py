"""Benchmark: small authenticated GETs against the framework floor and MLflow, and create -> running.

In one run, on SQLite and (with --postgresql) PostgreSQL:

1. A realistic store (thousands of projects, runs with logs and metrics, tuning
   jobs) is seeded with bulk inserts; the service starts as `python main.py`
   (auth on, scheduler off) and `bench/floor_app.py` serves the same JSON bodies
   from a bare FastAPI app with the same uvicorn settings. `wrk` drives each call
   (16 connections) against both; the ratio service / floor is the figure to
   watch (goals: single-object GETs >= 0.5, lists of 20 >= 0.3, /healthz >= 0.8).
2. Peer: the MLflow tracking server (its own venv, bench only) seeded with as
   many runs; our `GET /runs/{id}` against `runs/get`, our list of 20 runs
   against `runs/search` (max_results 20), same wrk settings.
3. Create -> running: 20 sequential runs of a trivial command through the local
   executor on an idle queue (scheduler on); p50 and p90 (goal p50 <= 0.1 s).

    .venv/bin/python -m bench.api_throughput [--postgresql] [--duration 5] [--no-mlflow] [--json PATH]

Prints a table (and, with --json PATH, the figures as JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from src.storage import Store
from src.storage.tables import Project, ProjectTag, Run, RunLog, RunMetric, TuningJob
from src.storage.types import utcnow
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.server import free_port
from tests.support.training import make_training_dir

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VENV = Path(os.environ.get("BENCH_MLFLOW_VENV", "/opt/bench-mlflow"))
MLFLOW_VERSION = "3.17.2"
ADMIN_KEY = "bench-admin-key-0"
USER_KEY = "bench-alice-key-0"  # the calls are made as a user: owner scoping is part of the cost
OWNERS = ("alice", "bob")
BATCH = 5_000


@dataclass
class Sizes:
    projects: int = 5_000
    runs_per_project: int = 4
    runs_in_listed_project: int = 500
    runs_with_logs: int = 1_000
    log_lines: int = 200
    metric_steps: int = 50
    tuning_jobs: int = 2_000

    @property
    def runs(self) -> int:
        return self.projects * self.runs_per_project + self.runs_in_listed_project + self.tuning_jobs


SMALL = Sizes(
    projects=100,
    runs_per_project=2,
    runs_in_listed_project=40,
    runs_with_logs=20,
    log_lines=20,
    metric_steps=5,
    tuning_jobs=40,
)


@dataclass
class Targets:
    """Rows owned by alice that the GETs read."""

    project: str
    run_id: str
    job_id: str
    listed_project: str


@dataclass
class Call:
    key: str
    label: str
    path: str
    kind: str  # single, list or health: which goal applies


def calls(targets: Targets) -> list[Call]:
    return [
        Call("project", "GET /projects/{name}", f"/projects/{targets.project}", "single"),
        Call("run", "GET /runs/{id}", f"/runs/{targets.run_id}", "single"),
        Call("tuning", "GET /v1/tunings.get/{id}", f"/v1/tunings.get/{targets.job_id}", "single"),
        Call("jobs", "GET /v1/fine_tuning/jobs?limit=20", "/v1/fine_tuning/jobs?limit=20", "list"),
        Call("projects", "GET /projects?limit=20", "/projects?limit=20", "list"),
        Call(
            "runs",
            "GET /projects/{name}/runs?limit=20",
            f"/projects/{targets.listed_project}/runs?limit=20",
            "list",
        ),
        Call("healthz", "GET /healthz", "/healthz", "health"),
    ]


GOALS = {"single": 0.5, "list": 0.3, "health": 0.8}


# --- seeding ---------------------------------------------------------------------------------


def _run_id(n: int) -> str:
    return f"run-{n:028x}"


def _insert(session: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(table), rows[start : start + BATCH])


def _run_row(n: int, *, project_id: int, owner: str, now: Any) -> dict[str, Any]:
    return {
        "id": _run_id(n),
        "project_id": project_id,
        "owner": owner,
        "status": "succeeded",
        "executor": "local",
        "dataset_ref": "data/train.jsonl",
        "train_config_ref": "configs/sft.yaml",
        "gpu_ids": [],
        "env": {"SEED": str(n)},
        "command": ["sh", "train.sh", "configs/sft.yaml"],
        "workspace": f"/srv/tuning/runs/{_run_id(n)}",
        "workdir": ".",
        "output_dir": f"/srv/tuning/runs/{_run_id(n)}/output",
        "exit_code": 0,
        "progress": 1.0,
        "current_step": 100,
        "total_steps": 100,
        "epoch": 3.0,
        "summary": {"train_loss": 0.42, "train_runtime": 812.5, "train_samples_per_second": 9.8},
        "log_lines": 0,
        "created_at": now,
        "updated_at": now,
        "started_at": now,
        "finished_at": now,
        "last_activity_at": now,
    }


def _metric_rows(run_id: str, steps: int, now: Any) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "source": "trainer",
            "step": step,
            "epoch": step / steps * 3,
            "loss": 2.0 / step,
            "lr": 1e-4,
            "grad_norm": 1.5,
            "throughput": 9.8,
            "extra": {},
            "created_at": now,
        }
        for step in range(1, steps + 1)
    ]


def seed(store: Store, sizes: Sizes) -> Targets:
    """Bulk-insert the store; half of everything belongs to alice, half to bob."""
    now = utcnow()
    with store.session_scope() as session:
        projects = [
            {
                "name": f"p{i:06d}",
                "description": f"project {i}",
                "owner": OWNERS[i % 2],
                "status": "active",
                "dataset_name": "data/train.jsonl",
                "training_yaml_name": "configs/sft.yaml",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(sizes.projects)
        ]
        projects.append(
            {"name": "listed", "owner": "alice", "status": "active", "created_at": now, "updated_at": now}
        )
        projects += [
            {
                "name": f"tunings-{owner}",
                "owner": owner,
                "tunings_owner": owner,
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            for owner in OWNERS
        ]
        _insert(session, Project, projects)
        session.flush()
        ids = dict(
            session.execute(Project.__table__.select().with_only_columns(Project.name, Project.id)).all()
        )
        _insert(
            session,
            ProjectTag,
            [
                {"project_id": ids[p["name"]], "tag": tag, "position": pos}
                for p in projects
                for pos, tag in enumerate(("sft", "team-a" if ids[p["name"]] % 2 else "team-b"))
            ],
        )
        runs, n = [], 0
        for i in range(sizes.projects):
            for _ in range(sizes.runs_per_project):
                runs.append(_run_row(n, project_id=ids[f"p{i:06d}"], owner=OWNERS[i % 2], now=now))
                n += 1
        for _ in range(sizes.runs_in_listed_project):
            runs.append(_run_row(n, project_id=ids["listed"], owner="alice", now=now))
            n += 1
        jobs_first = n
        for j in range(sizes.tuning_jobs):
            owner = OWNERS[j % 2]
            runs.append(_run_row(n, project_id=ids[f"tunings-{owner}"], owner=owner, now=now))
            n += 1
        for row in runs[: sizes.runs_with_logs]:
            row["log_lines"] = sizes.log_lines
        _insert(session, Run, runs)
        logs = [
            {
                "run_id": row["id"],
                "seq": seq,
                "source": "output",
                "tags": "",
                "line": f"step {seq} loss 0.{seq}",
            }
            for row in runs[: sizes.runs_with_logs]
            for seq in range(1, sizes.log_lines + 1)
        ]
        _insert(session, RunLog, logs)
        metric_runs = [row["id"] for row in runs[: sizes.runs_with_logs]] + [
            row["id"] for row in runs[jobs_first:]
        ]
        for start in range(0, len(metric_runs), 100):
            _insert(
                session,
                RunMetric,
                [
                    m
                    for run_id in metric_runs[start : start + 100]
                    for m in _metric_rows(run_id, sizes.metric_steps, now)
                ],
            )
        _insert(
            session,
            TuningJob,
            [
                {
                    "id": f"job-{j:012x}",
                    "run_id": _run_id(jobs_first + j),
                    "owner": OWNERS[j % 2],
                    "model": "qwen2.5-7b-instruct",
                    "training_file": "file-train",
                    "validation_file": None,
                    "hyperparameters": {"epochs": 3, "learning_rate": 1e-4, "batch_size": 8},
                    "suffix": "bench",
                    "extra": {"team": "a"},
                    "fine_tuned_model": f"ft:qwen2.5-7b-instruct:bench:job-{j:012x}",
                    "created_at": now,
                }
                for j in range(sizes.tuning_jobs)
            ],
        )
    # alice owns the even-numbered projects, their runs (run 0 has logs and metrics) and the even jobs
    return Targets(project="p000000", run_id=_run_id(0), job_id=f"job-{0:012x}", listed_project="listed")


# --- processes -------------------------------------------------------------------------------


def service_env(url: str, port: int, work: Path, *, scheduler: bool) -> dict[str, str]:
    training = make_training_dir(work / "training")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNING_", "TRAINING_"))}
    env.update(
        {
            "TUNING_DATABASE_URL": url,
            "TUNING_PORT": str(port),
            "TUNING_DATA_DIR": str(work / "data"),
            "TUNING_API_KEYS": json.dumps(
                [
                    {"key": ADMIN_KEY, "owner": "root", "role": "admin"},
                    {"key": USER_KEY, "owner": "alice", "role": "user"},
                ]
            ),
            "TUNING_AUTH": "api_key",
            "TUNING_SCHEDULER": "true" if scheduler else "false",
            "TUNING_EXECUTOR": "local",
            "TUNING_TRAINING_DIR": str(training),
            "TUNING_TRAINING_WORKDIR": ".",
            "TUNING_TRAINING_COMMAND": '["sleep", "0.3"]',
            "TUNING_GPUS": "[]",
            "TUNING_RUN_AS_USER": "",
            "TUNING_DEMO_MODEL": "0",
            # the per-key limiter still runs; its limit is lifted so wrk measures serving, not 429s
            "TUNING_RATE_LIMITS": '{"tunings": "10000000/second", "files": "10000000/second"}',
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


@contextlib.contextmanager
def process(
    argv: list[str], *, env: dict[str, str] | None, cwd: Path, log: Path, health: str
) -> Iterator[None]:
    """Start a server, wait until `health` answers 200, stop it with SIGTERM at the end."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode}: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{health} did not answer in 300 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- load ------------------------------------------------------------------------------------


@dataclass(order=True)
class Load:
    rps: float
    errors: int = 0
    requests: int = 0


def parse_wrk(output: str) -> Load:
    """Requests/sec, total requests and non-2xx/socket errors from wrk's summary."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(g) for g in socket_errors.groups())
    return Load(rps=rps, errors=count, requests=int(total.group(1)) if total else 0)


def drive(
    url: str,
    *,
    duration: int,
    connections: int = 16,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    work: Path,
) -> Load:
    """`wrk` for `duration` seconds after a one-second warm-up; a POST when `body` is given."""
    if shutil.which("wrk") is None:
        return drive_httpx(url, duration=duration, connections=connections, headers=headers, body=body)
    argv = ["wrk", "-t1", f"-c{connections}", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if body is not None:
        script = work / "post.lua"
        script.write_text(
            f"wrk.method = 'POST'\nwrk.body = {json.dumps(body)}\n"
            "wrk.headers['Content-Type'] = 'application/json'\n"
        )
        argv += ["-s", str(script)]
    subprocess.run([*argv, "-d1s", url], capture_output=True, text=True, check=True)
    result = subprocess.run([*argv, f"-d{duration}s", url], capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


def drive_httpx(
    url: str, *, duration: int, connections: int, headers: dict[str, str] | None, body: str | None
) -> Load:
    """The fallback when wrk is missing: `connections` asyncio workers on one httpx client."""
    import asyncio

    async def run() -> Load:
        counts = {"ok": 0, "bad": 0}
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
            stop = time.perf_counter() + duration

            async def worker() -> None:
                while time.perf_counter() < stop:
                    if body is None:
                        response = await client.get(url)
                    else:
                        response = await client.post(
                            url, content=body, headers={"Content-Type": "application/json"}
                        )
                    counts["ok" if response.status_code < 400 else "bad"] += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.perf_counter() - started
        total = counts["ok"] + counts["bad"]
        return Load(rps=total / elapsed, errors=counts["bad"], requests=total)

    return asyncio.run(run())


# --- the measured parts ----------------------------------------------------------------------


@dataclass
class Row:
    call: str
    kind: str
    service_rps: float
    floor_rps: float
    ratio: float
    goal: float
    errors: int


@dataclass
class DatabaseResult:
    database: str
    rows: list[Row] = field(default_factory=list)
    create_to_running_s: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.create_to_running_s)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.create_to_running_s, n=10)[-1]


def throughput(url: str, work: Path, sizes: Sizes, *, duration: int, rounds: int) -> list[Row]:
    """Seed, start the service and the floor side by side, and drive each call on both in turn.

    The machine's speed drifts, so each call alternates service and floor `rounds`
    times back to back and keeps each side's best.
    """
    store = Store(url)
    store.upgrade()
    started = time.perf_counter()
    targets = seed(store, sizes)
    store.dispose()
    print(
        f"  seeded {sizes.projects:,} projects, {sizes.runs:,} runs, {sizes.tuning_jobs:,} tuning jobs "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    port, floor_port = free_port(), free_port()
    base, floor_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"
    auth = {"Authorization": f"Bearer {USER_KEY}"}
    bodies: dict[str, Any] = {}
    service = [sys.executable, str(ROOT / "main.py")]
    env = service_env(url, port, work, scheduler=False)
    rows = []
    with process(service, env=env, cwd=work, log=work / "service.log", health=f"{base}/healthz"):
        for call in calls(targets):
            response = httpx.get(base + call.path, headers=auth, timeout=60)
            if response.status_code != 200:
                log = (work / "service.log").read_text()[-3000:]
                raise RuntimeError(f"{call.path}: {response.status_code} {response.text[:500]}\n{log}")
            bodies[call.key] = response.json()
        (work / "bodies.json").write_text(json.dumps(bodies))
        floor = [sys.executable, "-m", "bench.floor_app", str(work / "bodies.json"), str(floor_port)]
        floor_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with process(floor, env=floor_env, cwd=ROOT, log=work / "floor.log", health=f"{floor_base}/healthz"):
            for call in calls(targets):
                ours, bare = Load(0.0), Load(0.0)
                for _ in range(rounds):
                    ours = max(ours, drive(base + call.path, duration=duration, headers=auth, work=work))
                    bare = max(
                        bare, drive(floor_base + call.path, duration=duration, headers=auth, work=work)
                    )
                row = Row(
                    call.label,
                    call.kind,
                    ours.rps,
                    bare.rps,
                    ours.rps / bare.rps,
                    GOALS[call.kind],
                    ours.errors,
                )
                rows.append(row)
                print(
                    f"  {call.label:<38}service {ours.rps:>6.0f}  floor {bare.rps:>6.0f} req/s  "
                    f"ratio {row.ratio:.2f}",
                    flush=True,
                )
    return rows


def create_to_running(url: str, work: Path, *, count: int) -> list[float]:
    """Seconds from sending the create to the run being seen running (or done), `count` times in a row."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    env = service_env(url, port, work, scheduler=True)
    samples = []
    server = [sys.executable, str(ROOT / "main.py")]
    with (
        process(server, env=env, cwd=work, log=work / "latency.log", health=f"{base}/healthz"),
        httpx.Client(base_url=base, headers=admin, timeout=60) as client,
    ):
        client.post(
            "/projects",
            json={
                "name": "latency",
                "dataset_name": "data/train.jsonl",
                "training_yaml_name": "configs/sft.yaml",
            },
        ).raise_for_status()
        for _ in range(count):
            started = time.perf_counter()
            created = client.post("/projects/latency/runs", json={})
            created.raise_for_status()
            run_id = created.json()["id"]
            while (status := client.get(f"/runs/{run_id}").json()["status"]) == "pending":
                time.sleep(0.002)
            samples.append(time.perf_counter() - started)
            while status in ("pending", "running"):  # an idle queue for the next one
                time.sleep(0.05)
                status = client.get(f"/runs/{run_id}").json()["status"]
    return samples


# --- MLflow ----------------------------------------------------------------------------------


def mlflow_ready() -> str | None:
    """None when the MLflow venv can serve, else why not."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True, capture_output=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            return f"cannot create {MLFLOW_VENV}: {exc}"
    check = subprocess.run(
        [str(python), "-c", f"import mlflow; assert mlflow.__version__ == '{MLFLOW_VERSION}'"],
        capture_output=True,
    )
    if check.returncode != 0:
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"mlflow=={MLFLOW_VERSION}"],
            capture_output=True,
            text=True,
        )
        if install.returncode != 0:
            return f"pip install mlflow=={MLFLOW_VERSION} failed: {install.stderr.strip()[-300:]}"
    return None


def mlflow_peer(work: Path, sizes: Sizes, *, duration: int, rounds: int) -> dict[str, float] | str:
    """req/s of MLflow's runs/get and runs/search (max_results 20), or why the peer was skipped."""
    reason = mlflow_ready()
    if reason is not None:
        return reason
    db = f"sqlite:///{work}/mlflow.db"
    seeded = subprocess.run(
        [
            str(MLFLOW_VENV / "bin" / "python"),
            str(ROOT / "bench" / "mlflow_seed.py"),
            db,
            str(work / "mlruns"),
            json.dumps(asdict(sizes)),
        ],
        capture_output=True,
        text=True,
    )
    if seeded.returncode != 0:
        return f"seeding MLflow failed: {seeded.stderr.strip()[-500:]}"
    ids = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        str(MLFLOW_VENV / "bin" / "mlflow"),
        "server",
        "--backend-store-uri",
        db,
        "--default-artifact-root",
        str(work / "mlruns"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # its background job runner (a pool of huey consumers) is off, as our scheduler is during the GETs
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with process(argv, env=env, cwd=work, log=work / "mlflow.log", health=f"{base}/health"):
        get_url = f"{base}/api/2.0/mlflow/runs/get?run_id={ids['run_id']}"
        httpx.get(get_url, timeout=60).raise_for_status()
        search_body = json.dumps({"experiment_ids": [ids["listed_experiment_id"]], "max_results": 20})
        search_url = f"{base}/api/2.0/mlflow/runs/search"
        found = httpx.post(
            search_url, content=search_body, headers={"Content-Type": "application/json"}, timeout=60
        )
        found.raise_for_status()
        assert len(found.json()["runs"]) == 20
        get = max(drive(get_url, duration=duration, work=work) for _ in range(rounds))
        print(f"  mlflow  runs/get{get.rps:>29.0f} req/s", flush=True)
        search = max(drive(search_url, duration=duration, body=search_body, work=work) for _ in range(rounds))
        print(f"  mlflow  runs/search{search.rps:>26.0f} req/s", flush=True)
    if not get.rps or not search.rps or get.errors or search.errors:
        return (
            f"MLflow answered errors or nothing (runs/get {get}, runs/search {search}); see {work}/mlflow.log"
        )
    return {"runs/get": get.rps, "runs/search": search.rps}


def peer_ratios(rows: list[Row], peer: dict[str, float]) -> dict[str, float]:
    """Our call's req/s over MLflow's for the same kind of call."""
    ours = {row.call: row.service_rps for row in rows}
    return {
        "GET /runs/{id} / runs/get": ours["GET /runs/{id}"] / peer["runs/get"],
        "GET /projects/{name}/runs?limit=20 / runs/search": ours["GET /projects/{name}/runs?limit=20"]
        / peer["runs/search"],
    }


# --- report ----------------------------------------------------------------------------------


def print_table(results: list[DatabaseResult], peer: dict[str, float] | str | None) -> None:
    for result in results:
        print(f"\n{result.database}: req/s with wrk, 16 connections, one uvicorn process, auth on")
        print(f"{'call':<38}{'service':>9}{'floor':>9}{'ratio':>8}{'goal':>7}")
        for row in result.rows:
            mark = "" if row.ratio >= row.goal else "  short"
            errors = f"  ({row.errors} errors)" if row.errors else ""
            print(
                f"{row.call:<38}{row.service_rps:>9.0f}{row.floor_rps:>9.0f}{row.ratio:>8.2f}{row.goal:>7.1f}{mark}{errors}"
            )
        if result.create_to_running_s:
            print(
                f"create -> running ({len(result.create_to_running_s)} sequential runs, idle queue): "
                f"p50 {result.p50:.3f} s, p90 {result.p90:.3f} s (goal p50 <= 0.1 s)"
            )
    if isinstance(peer, str):
        print(f"\nMLflow peer skipped: {peer}")
    elif peer is not None:
        print(f"\nMLflow {MLFLOW_VERSION} tracking server on SQLite (one uvicorn worker, no auth), req/s:")
        print(f"  runs/get {peer['runs/get']:.0f}, runs/search (max_results 20) {peer['runs/search']:.0f}")
        for name, ratio in peer_ratios(results[0].rows, peer).items():
            print(f"  {name:<52}{ratio:>7.2f}x (goal > 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", action="store_true", help="also on a throwaway PostgreSQL database")
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per call")
    parser.add_argument(
        "--rounds", type=int, default=2, help="service/floor alternations per call (best kept)"
    )
    parser.add_argument("--projects", type=int, default=Sizes.projects)
    parser.add_argument("--runs", type=int, default=20, help="sequential creates for create -> running")
    parser.add_argument("--small", action="store_true", help="a tiny store, to check the script works")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow peer")
    args = parser.parse_args()
    sizes = SMALL if args.small else Sizes(projects=args.projects)
    results: list[DatabaseResult] = []
    peer: dict[str, float] | str | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for database in ("sqlite", "postgresql") if args.postgresql else ("sqlite",):
            print(f"{database}:", flush=True)
            work = Path(tmp) / database
            work.mkdir()
            result = DatabaseResult(database)
            url = (
                create_pg_database("bench_api") if database == "postgresql" else f"sqlite:///{work}/bench.db"
            )
            try:
                result.rows = throughput(url, work, sizes, duration=args.duration, rounds=args.rounds)
            finally:
                if database == "postgresql":
                    drop_pg_database(url)
            latency_url = (
                create_pg_database("bench_latency")
                if database == "postgresql"
                else f"sqlite:///{work}/latency.db"
            )
            try:
                result.create_to_running_s = create_to_running(latency_url, work, count=args.runs)
            finally:
                if database == "postgresql":
                    drop_pg_database(latency_url)
            results.append(result)
            if database == "sqlite" and not args.no_mlflow:  # next to the SQLite figures it is compared with
                print("mlflow:", flush=True)
                peer = mlflow_peer(work, sizes, duration=args.duration, rounds=args.rounds)
    print_table(results, peer)
    if args.json is None:
        return
    args.json.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "sizes": asdict(sizes),
                "duration_s": args.duration,
                "results": [
                    {**asdict(r), "p50_s": r.p50, "p90_s": r.p90} if r.create_to_running_s else asdict(r)
                    for r in results
                ],
                "mlflow": {"skipped": peer}
                if isinstance(peer, str)
                else {
                    "version": MLFLOW_VERSION,
                    "rps": peer,
                    "ratios": peer and peer_ratios(results[0].rows, peer),
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
