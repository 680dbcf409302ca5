"""The run engine: one background loop that drives the monitor, then the scheduler.

A run's path, one module at a time: `service.create` admits and stages it;
`scheduler` claims and launches it (a Slurm run: `slurm_queue` submits it
and marks it running once Slurm starts it); `monitor` follows it (`ingest` moves its
output into the store) and `finish` ends it, with `artifacts` registered.
Every status change goes through `state`. Between passes the engine sleeps
until its interval ends or `wakeup` says the queue changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from src.features.runs import wakeup
from src.features.runs.executors import RunExecutor
from src.features.runs.executors.slurm import SlurmExecutor
from src.features.runs.monitor import Monitor
from src.features.runs.scheduler import Scheduler
from src.features.runs.slurm_queue import SlurmQueue
from src.features.runs.workspace import TrainingLayout
from src.storage import Store
from src.utils.periodic import PeriodicWorker


@dataclass
class EngineSettings:
    max_concurrent_runs: int
    monitor_interval: float
    stall_timeout: float
    cancel_grace: float
    base_env: dict[str, str] = field(default_factory=dict)
    # SQLite: how often another process's queue changes are looked for (PostgreSQL is notified)
    queue_poll_interval: float = 0.05


class RunEngine(PeriodicWorker):
    """Each pass follows running runs, then starts what fits; a stop leaves runs running, to re-adopt.

    A pass also starts at once when a run is created or cancelled or GPUs are released,
    in this process or, through the database, in another one.
    """

    def __init__(
        self,
        store: Store,
        *,
        layout: TrainingLayout,
        executors: dict[str, RunExecutor],
        settings: EngineSettings,
    ) -> None:
        super().__init__(name="run-engine", interval=settings.monitor_interval, pace_from_start=True)
        self.settings = settings
        self.store = store
        self.queue_watch = wakeup.watch_queue(
            store, on_change=self.wake, poll_interval=settings.queue_poll_interval
        )
        self.monitor = Monitor(
            store,
            layout=layout,
            executors=executors,
            stall_timeout=settings.stall_timeout,
            cancel_grace=settings.cancel_grace,
        )
        self.scheduler = Scheduler(
            store,
            layout=layout,
            executors=executors,
            max_concurrent_runs=settings.max_concurrent_runs,
            base_env=settings.base_env,
        )
        slurm = executors.get("slurm")
        self.slurm_queue = (
            SlurmQueue(store, layout=layout, executor=slurm, base_env=settings.base_env)
            if isinstance(slurm, SlurmExecutor)
            else None
        )

    def start(self) -> None:
        """Run passes until `stop`, woken early by queue changes in this process and others."""
        wakeup.subscribe(self.store, self.wake)
        super().start()
        self.queue_watch.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the current pass finish; running runs keep running."""
        wakeup.unsubscribe(self.store, self.wake)
        self.queue_watch.stop(timeout)
        super().stop(timeout)

    def tick(self) -> None:
        """One pass: follow running runs, hand Slurm its runs and follow them there, then start what fits."""
        self.monitor.poll()
        if self.slurm_queue is not None:
            self.slurm_queue.poll()
        self.scheduler.dispatch()
