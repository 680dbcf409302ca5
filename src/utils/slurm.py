"""Slurm through its command-line tools: submit, look at the queue, read placements, cancel.

`slurmrestd` in common distributions speaks only an old API version and refuses to run
as root, so the transport is `sbatch`, `squeue`, `scontrol`, `sacct` and `scancel`,
each called with an argument list (never a shell) and a timeout. The client tools find
the cluster the usual way (`/etc/slurm/slurm.conf`, or `SLURM_CONF`).

Job names carry the service's ids (`run-<id>`, `dep-<id>`), which is how a restarted
service finds its jobs again. One `squeue` call serves every follower for a short
while (`Queue.snapshot`), so following N jobs costs one call per pass, not N.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from src.utils.child_user import ChildUser

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT = 30.0
# squeue states after which a job runs no more (squeue -t all shows them for MinJobAge)
FINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)
# a job in one of these was put back in the queue by Slurm (a failed launch, a lost controller)
REQUEUED_STATES = frozenset({"REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD"})
_NAME_PREFIXES = ("run-", "dep-")
_GRES_LINE = re.compile(r"^\s*Nodes=(?P<nodes>\S+)\s.*\bGRES=(?P<gres>\S*)", re.MULTILINE)
_GRES_INDEXES = re.compile(r"\(IDX:(?P<idx>[0-9,\-]+)\)")


class SlurmError(RuntimeError):
    """A Slurm command failed or could not be run; the message has what it printed."""


@dataclass(frozen=True)
class Job:
    """One job as `squeue` shows it."""

    job_id: str
    name: str
    state: str
    reason: str
    nodes: str
    priority: int
    partition: str

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES or self.state.startswith("CANCELLED")

    @property
    def is_requeued(self) -> bool:
        held = self.state == "PENDING" and ("Held" in self.reason or "requeue" in self.reason.lower())
        return self.state in REQUEUED_STATES or held


@dataclass(frozen=True)
class Accounting:
    """A finished job as `sacct -P` reports it: its state and `exit:signal` code."""

    state: str
    exit_code: int
    signal: int


@dataclass(frozen=True)
class Submission:
    """What one `sbatch` asks for."""

    name: str
    argv: list[str]  # the batch script (a file readable on the nodes) and its arguments
    workdir: Path
    output: Path
    env: Mapping[str, str]
    gpus_per_node: int = 0
    nodes: int = 1
    partition: str | None = None
    account: str | None = None
    time_limit: str | None = None
    extra: list[str] = field(default_factory=list)


class Slurm:
    """The cluster's command-line tools, run as the service (submissions as `run_as`)."""

    def __init__(self, *, run_as: ChildUser | None = None, snapshot_age: float = 0.5) -> None:
        self.run_as = run_as
        self.snapshot_age = snapshot_age
        self._snapshot: dict[str, Job] = {}
        self._positions: dict[str, int] = {}  # pending job id → place in its partition's queue
        self._snapshot_at = float("-inf")
        self._lock = threading.Lock()

    def submit(self, job: Submission) -> str:
        """`sbatch` the job; returns its id. Never requeued by Slurm: this service decides what comes next."""
        options = [
            "--parsable",
            f"--job-name={job.name}",
            "--no-requeue",
            f"--chdir={job.workdir}",
            f"--output={job.output}",
            f"--nodes={job.nodes}",
            "--ntasks-per-node=1",
            "--export=ALL",
        ]
        if job.gpus_per_node:
            options.append(f"--gres=gpu:{job.gpus_per_node}")
        if job.partition:
            options.append(f"--partition={job.partition}")
        if job.account:
            options.append(f"--account={job.account}")
        if job.time_limit:
            options.append(f"--time={job.time_limit}")
        if self.run_as is not None:
            # as root, sbatch submits for the user; without --gid the job keeps root's group
            options += [f"--uid={self.run_as.uid}", f"--gid={self.run_as.gid}"]
        options += job.extra
        # the env is the job's (--export=ALL); sbatch also reads SBATCH_* options from it, which
        # admission refuses in user env, so only what the service sets can steer sbatch
        output = self._call(["sbatch", *options, *job.argv], env=dict(job.env))
        job_id = output.strip().split(";")[0]
        if not job_id.isdigit():
            raise SlurmError(f"sbatch printed no job id: {output.strip()!r}")
        self.forget_snapshot()
        return job_id

    def jobs(self) -> dict[str, Job]:
        """The service's jobs (named run-… or dep-…) by name, newest per name, from one recent `squeue`."""
        with self._lock:
            if time.monotonic() - self._snapshot_at > self.snapshot_age:
                self._snapshot = self._read_queue()
                self._positions = _queue_positions(self._snapshot.values())
                self._snapshot_at = time.monotonic()
            return self._snapshot

    def forget_snapshot(self) -> None:
        with self._lock:
            self._snapshot_at = float("-inf")

    def _read_queue(self) -> dict[str, Job]:
        output = self._call(["squeue", "--noheader", "--states=all", "--format=%i|%j|%T|%r|%N|%Q|%P"])
        jobs: dict[str, Job] = {}
        for line in output.splitlines():
            parts = line.split("|")
            if len(parts) != 7 or not parts[1].startswith(_NAME_PREFIXES):
                continue
            job = Job(
                job_id=parts[0],
                name=parts[1],
                state=parts[2].split()[0] if parts[2] else "",
                reason=parts[3],
                nodes=parts[4],
                priority=int(parts[5]) if parts[5].isdigit() else 0,
                partition=parts[6],
            )
            known = jobs.get(job.name)
            if known is None or int(job.job_id) > int(known.job_id):
                jobs[job.name] = job
        return jobs

    def queue_position(self, job: Job) -> int | None:
        """1 for the pending job Slurm starts next in its partition (by priority, then id)."""
        self.jobs()  # a fresh snapshot, and the positions computed from it
        with self._lock:
            return self._positions.get(job.job_id)

    def placement(self, job_id: str) -> list[tuple[str, list[int]]]:
        """Each node of a running job with the GPU indexes it got there (`scontrol show job -d`)."""
        detail = self._call(["scontrol", "show", "job", "--details", job_id])
        placed: list[tuple[str, list[int]]] = []
        for match in _GRES_LINE.finditer(detail):
            indexes = _expand_indexes(match.group("gres"))
            for node in self.hostnames(match.group("nodes")):
                placed.append((node, indexes))
        return placed

    def hostnames(self, nodelist: str) -> list[str]:
        """`gpu[1-2]` → `gpu1`, `gpu2`."""
        if "[" not in nodelist:
            return [name for name in nodelist.split(",") if name]
        return self._call(["scontrol", "show", "hostnames", nodelist]).split()

    def node_address(self, node: str) -> str:
        """The address the node is reached at (`NodeAddr`)."""
        detail = self._call(["scontrol", "show", "node", node])
        match = re.search(r"\bNodeAddr=(\S+)", detail)
        if match is None:
            raise SlurmError(f"scontrol shows no address for node {node!r}")
        return match.group(1)

    def accounting(self, job_id: str) -> Accounting | None:
        """The job's final state and exit code from `sacct -P` (its JSON form misreports exit codes)."""
        output = self._call(
            ["sacct", "--noheader", "--parsable2", "--format=JobID,State,ExitCode", "--jobs", job_id]
        )
        for line in output.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[0] == job_id:
                code, _, sig = parts[2].partition(":")
                state = parts[1].split()[0] if parts[1] else ""
                return Accounting(state, int(code) if code.isdigit() else 0, int(sig) if sig.isdigit() else 0)
        return None

    def cancel(self, job_id: str, *, signal_name: str | None = None) -> None:
        """`scancel` the job (TERM, then KILL after Slurm's KillWait), or send all of it one signal."""
        argv = ["scancel"]
        if signal_name is not None:
            argv += ["--full", f"--signal={signal_name}"]
        self._call([*argv, job_id])
        self.forget_snapshot()

    def _call(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> str:
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlurmError(f"{argv[0]} could not be run: {exc}") from exc
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip().splitlines()
            raise SlurmError(f"{argv[0]} failed: {message[-1] if message else f'exit {done.returncode}'}")
        return done.stdout


def _queue_positions(jobs: Iterable[Job]) -> dict[str, int]:
    """Each pending job's place in its partition's queue: 1 starts next (by priority, then id)."""
    by_partition: dict[str, list[Job]] = {}
    for job in jobs:
        if job.state == "PENDING":
            by_partition.setdefault(job.partition, []).append(job)
    positions: dict[str, int] = {}
    for pending in by_partition.values():
        pending.sort(key=lambda j: (-j.priority, int(j.job_id)))
        positions.update({job.job_id: place for place, job in enumerate(pending, start=1)})
    return positions


def _expand_indexes(gres: str) -> list[int]:
    """`gpu:2(IDX:0-1)` → [0, 1]; `gpu:a100:1(IDX:3)` → [3]."""
    indexes: list[int] = []
    for match in _GRES_INDEXES.finditer(gres):
        for part in match.group("idx").split(","):
            low, _, high = part.partition("-")
            if low.isdigit():
                indexes.extend(range(int(low), int(high or low) + 1))
    return indexes
