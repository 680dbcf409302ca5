"""Several API replicas on one database: no run starts twice, none is lost, either serves any request.

Replicas A and B are two `python main.py` processes on the same database, data directory
and training directory (one host: one filesystem, one process table), each with its
scheduler on. Runs are created from several threads through both. A is then killed with
SIGKILL at the worst moment: runs it started are running, runs it claimed are not started
yet, others wait. Asked through B alone, every run succeeds, each started exactly once,
never more than the limit at a time; a third replica C, started after the kill, joins the
same queue and serves the same runs.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select

from src.storage.tables import Run
from tests.support.server import free_port, server_env, start_server, wait_until_healthy
from tests.support.training import make_training_dir

pytestmark = pytest.mark.slow

KEY = "test-admin-key-000"
RUNS = 30
LIMIT = 3
RUN_SECONDS = 1.0
ENDED = {"succeeded", "failed", "cancelled"}
# The training command: a line when it starts, naming the replica that launched it (the
# parent of the run's wrapper, which is $PPID here), a pause, then a line when it ends.
TRAIN_SCRIPT = """\
launcher=$(cut -d' ' -f4 "/proc/$PPID/stat")
echo "start $TUNING_RUN_ID $launcher" >> "$1"
sleep "$2"
echo "end $TUNING_RUN_ID" >> "$1"
"""


@dataclass
class Replica:
    process: subprocess.Popen[str]
    api: httpx.Client


@dataclass(frozen=True)
class Event:
    kind: str  # start | end
    run_id: str
    launcher: int = 0  # the pid of the replica that started the run (start lines only)


@dataclass(frozen=True)
class Freeze:
    """What was true while A was stopped, just before it was killed."""

    claimed: set[str]  # claimed (`running`) by A, command not started
    waiting: set[str]  # `pending`


def read_events(marks: Path) -> list[Event]:
    lines = marks.read_text().splitlines() if marks.exists() else []
    return [
        Event(kind, run_id, int(launcher[0]) if launcher else 0)
        for kind, run_id, *launcher in map(str.split, lines)
    ]


def max_overlap(events: list[Event]) -> int:
    running, peak = 0, 0
    for event in events:
        running += 1 if event.kind == "start" else -1
        peak = max(peak, running)
    return peak


@contextlib.contextmanager
def replicas(env: dict[str, str], workdir: Path) -> Iterator[Callable[..., Replica]]:
    """Start replicas on demand, each on its own port and log file; all are stopped on the way out."""
    started: list[Replica] = []

    def start(name: str, **extra: str) -> Replica:
        port = free_port()
        replica_env = {**env, **extra, "TUNING_PORT": str(port)}
        process = start_server(replica_env, workdir, output=workdir / f"{name}.log")
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        )
        started.append(Replica(process, api))
        wait_until_healthy(process, port)
        return started[-1]

    try:
        yield start
    finally:
        for replica in started:
            replica.api.close()
            replica.process.send_signal(signal.SIGCONT)  # in case it is still stopped
            replica.process.terminate()
        for replica in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                replica.process.wait(timeout=30)
            if replica.process.poll() is None:
                replica.process.kill()


def list_runs(replica: Replica, status: str | None = None) -> list[dict]:
    params = {"limit": 100, **({"status": status} if status else {})}
    page = replica.api.get("/projects/replicas/runs", params=params).json()
    assert not page["has_more"]
    return page["data"]


def unstarted_claims(database: Engine) -> set[str]:
    """Runs claimed (`running`) whose command has not started: no `pid` file in the workspace yet.

    Read from the database, not through a replica's API: a claim stays unstarted for a few
    milliseconds, and one query is quick enough to see it on a slow machine.
    """
    with database.connect() as connection:
        rows = connection.execute(select(Run.id, Run.workspace).where(Run.status == "running")).all()
    return {run_id for run_id, workspace in rows if not workspace or not (Path(workspace) / "pid").exists()}


def running_under(replica: Replica, marks: Path) -> set[str]:
    """Runs whose command the replica started and that have not ended."""
    events = read_events(marks)
    started = {e.run_id for e in events if e.kind == "start" and e.launcher == replica.process.pid}
    return started - {e.run_id for e in events if e.kind == "end"}


def freeze_while_launching(a: Replica, b: Replica, marks: Path, database: Engine) -> Freeze:
    """Stop A (SIGSTOP) while it holds runs it claimed but has not started, and runs it started.

    Once some replica holds a claim not started while A has runs running, A is stopped and
    looked at twice, 0.1 s apart: a claim still not started then is A's, since B starts
    its own within milliseconds. Otherwise A goes on and the next claim is tried, for as
    long as runs wait to be claimed (each one a new chance), not for a fixed time.
    """
    deadline = time.monotonic() + 120  # only if the queue never drains
    while list_runs(b, "pending") and time.monotonic() < deadline:
        for _ in range(200):
            if unstarted_claims(database) and running_under(a, marks):
                break
            time.sleep(0.002)
        else:
            continue
        a.process.send_signal(signal.SIGSTOP)
        time.sleep(0.1)
        claimed = unstarted_claims(database)
        time.sleep(0.1)
        claimed &= unstarted_claims(database)
        if claimed and running_under(a, marks):  # A's running runs are finished by others from here on
            return Freeze(claimed, waiting={run["id"] for run in list_runs(b, "pending")})
        a.process.send_signal(signal.SIGCONT)
    raise AssertionError("A was never caught between claiming runs and starting them")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_two_replicas_one_killed_start_every_run_once(tmp_path: Path, database_url: str) -> None:
    training = make_training_dir(tmp_path / "training")
    (training / "replica_train.sh").write_text(TRAIN_SCRIPT)
    marks = tmp_path / "marks.log"
    env = server_env(
        database_url,
        0,  # each replica gets its own port
        TUNING_DATA_DIR=str(tmp_path / "data"),
        TUNING_TRAINING_DIR=str(training),
        TUNING_TRAINING_WORKDIR=".",
        TUNING_TRAINING_COMMAND=json.dumps(["sh", "replica_train.sh", str(marks), str(RUN_SECONDS)]),
        TUNING_MAX_CONCURRENT_RUNS=str(LIMIT),
        TUNING_MONITOR_INTERVAL="0.1",
        TUNING_SCHEDULER="true",
    )
    try:
        with replicas(env, tmp_path) as start:
            # B looks at its runs less often, so A, which sees runs end first, claims most of the
            # slots they free: it is then easy to catch with claims in hand
            a, b = start("a"), start("b", TUNING_MONITOR_INTERVAL="0.5")
            a.api.post(
                "/projects",
                json={
                    "name": "replicas",
                    "dataset_name": "data/train.jsonl",
                    "training_yaml_name": "configs/sft.yaml",
                },
            ).raise_for_status()

            def create(index: int) -> tuple[str, str]:
                via = (a, b)[index % 2]
                response = via.api.post("/projects/replicas/runs", json={"note": f"run {index}"})
                assert response.status_code == 201, response.text
                return response.json()["id"], "ab"[index % 2]

            with ThreadPoolExecutor(max_workers=6) as pool:
                created = dict(pool.map(create, range(RUNS)))
            assert len(created) == RUNS
            through_a = sorted(run_id for run_id, via in created.items() if via == "a")
            assert a.api.get(f"/runs/{min(created.keys() - set(through_a))}").status_code == 200

            database = create_engine(database_url)
            try:
                frozen = freeze_while_launching(a, b, marks, database)
            finally:
                database.dispose()
            a.process.send_signal(signal.SIGKILL)
            a.process.wait(timeout=10)
            assert frozen.waiting, "some runs must still wait when A dies"

            c = start("c")  # a replica (re)started after the kill joins the same queue
            wait_for(lambda: {run["status"] for run in list_runs(b)} <= ENDED, "every run to end", 60)
            runs = {run["id"]: run for run in list_runs(b)}
            served_by_c = c.api.get(f"/runs/{through_a[0]}")
            assert served_by_c.status_code == 200 and served_by_c.json()["status"] == "succeeded"
            survivors = {b.process.pid, c.process.pid}
    finally:
        from src.storage import Store
        from tests.conftest import clear_tables

        store = Store(database_url, pool_size=1)
        clear_tables(store)
        store.dispose()

    errors = {run_id: run["error"] for run_id, run in runs.items() if run["error"]}
    assert {run_id: run["status"] for run_id, run in runs.items()} == dict.fromkeys(created, "succeeded"), (
        f"B serves every run and each succeeded, those A left running or claimed included: {errors}"
    )
    events = read_events(marks)
    launchers = {e.run_id: e.launcher for e in events if e.kind == "start"}
    assert sorted(e.run_id for e in events if e.kind == "start") == sorted(created), (
        "every run started exactly once: none twice, none lost"
    )
    assert max_overlap(events) <= LIMIT, "the replicas together never ran more than the limit at a time"
    assert {launchers.get(run_id) for run_id in frozen.claimed} <= survivors, (
        "the runs A claimed but never started were started by another replica"
    )
    assert b.process.pid in launchers.values(), "both replicas' schedulers launched runs"
