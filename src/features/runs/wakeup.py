"""Waking the run engine when the queue changes, instead of at its next pass.

A change that may let a pending run start or a running one stop (a run created
or cancelled, GPUs released) calls `queue_changed(session)` in the transaction
that makes it. Once that transaction commits, the engines of this process on
the same database wake at once (`subscribe`). Engines in other processes hear
of it through the database (`watch_queue`): on PostgreSQL a NOTIFY sent in the
same transaction, which the database delivers only on commit, reaches a
connection that LISTENs; on SQLite, which has no notifications, a cheap
fingerprint of the queue is read every few tens of milliseconds. The engine's
own interval stays as the fallback if a signal is ever missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from src.models.runs import RunStatus
from src.storage import Store
from src.storage.tables import GpuLease, Run
from src.utils.periodic import PeriodicWorker

logger = logging.getLogger(__name__)

CHANNEL = "tuning_run_queue"
# how long one wait for a notification lasts: the listener notices a stop within it
LISTEN_TIMEOUT = 0.25
# a lost listening connection is opened again after this many seconds
RECONNECT_DELAY = 1.0
# the session.info key holding the databases whose engines wake once the session commits
_PENDING = "tuning.queue_changed"

Wake = Callable[[], None]

_lock = threading.Lock()
_subscribers: dict[URL, list[Wake]] = {}


def queue_changed(session: Session) -> None:
    """Say that the run queue or the GPU ledger changes in this session's transaction.

    Engines wake once it commits, and not at all if it rolls back.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, "")))
    session.info.setdefault(_PENDING, set()).add(bind.url)
    if not event.contains(session, "after_commit", _wake_after_commit):
        event.listen(session, "after_commit", _wake_after_commit)
        event.listen(session, "after_rollback", _forget_pending)


def subscribe(store: Store, wake: Wake) -> None:
    """Call `wake` after each commit in this process that changes the queue on `store`'s database."""
    with _lock:
        _subscribers.setdefault(store.engine.url, []).append(wake)


def unsubscribe(store: Store, wake: Wake) -> None:
    with _lock:
        wakes = _subscribers.get(store.engine.url, [])
        if wake in wakes:
            wakes.remove(wake)


def _wake_after_commit(session: Session) -> None:
    for url in session.info.pop(_PENDING, ()):
        with _lock:
            wakes = list(_subscribers.get(url, ()))
        for wake in wakes:
            wake()


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def watch_queue(store: Store, *, on_change: Wake, poll_interval: float) -> PeriodicWorker:
    """A worker that calls `on_change` when another process changes the queue on `store`'s database."""
    if store.is_sqlite:
        return QueuePoller(store, on_change=on_change, interval=poll_interval)
    return QueueListener(store, on_change=on_change)


class QueuePoller(PeriodicWorker):
    """SQLite: reads a fingerprint of the queue each interval and calls `on_change` when it moved.

    The fingerprint (pending runs and the newest of them, running runs and those asked to
    stop, GPU leases) changes with every event that matters; it is read in a transaction
    that takes no write lock, from indexed columns. The first pass always calls `on_change`:
    what changed before the watch began is not missed.
    """

    def __init__(self, store: Store, *, on_change: Wake, interval: float) -> None:
        super().__init__(name="run-queue-poll", interval=interval)
        self.store = store
        self.on_change = on_change
        self._last: tuple[Any, ...] | None = None

    def tick(self) -> None:
        fingerprint = self.fingerprint()
        if fingerprint != self._last:
            self._last = fingerprint
            self.on_change()

    def fingerprint(self) -> tuple[Any, ...]:
        pending = Run.status == RunStatus.pending.value
        running = Run.status == RunStatus.running.value
        with self.store.session_scope(read_only=True) as session:
            row = session.execute(
                select(
                    select(func.count()).where(pending).select_from(Run).scalar_subquery(),
                    select(func.max(Run.id)).where(pending).scalar_subquery(),
                    select(func.count()).where(running).select_from(Run).scalar_subquery(),
                    select(func.count())
                    .where(running, Run.cancel_requested.is_(True))
                    .select_from(Run)
                    .scalar_subquery(),
                    select(func.count()).select_from(GpuLease).scalar_subquery(),
                )
            ).one()
        return tuple(row)


class QueueListener(PeriodicWorker):
    """PostgreSQL: a dedicated connection LISTENs on the queue channel and calls `on_change` per NOTIFY.

    A pass holds the connection until the worker stops or the connection fails; the next
    pass, `RECONNECT_DELAY` later, opens a new one. Each (re)connection calls `on_change`
    once, for what was sent while nobody listened.
    """

    def __init__(self, store: Store, *, on_change: Wake) -> None:
        super().__init__(name="run-queue-listen", interval=RECONNECT_DELAY)
        self.store = store
        self.on_change = on_change

    def _connect(self) -> psycopg.Connection[Any]:
        engine = self.store.engine
        args, params = engine.dialect.create_connect_args(engine.url)
        params.pop("context", None)  # SQLAlchemy's type adapters; this connection only listens
        connection: psycopg.Connection[Any] = psycopg.connect(*args, autocommit=True, **params)
        connection.execute(f'LISTEN "{CHANNEL}"')
        return connection

    def tick(self) -> None:
        try:
            with self._connect() as connection:
                self.on_change()
                while not self.stopping:
                    for _ in connection.notifies(timeout=LISTEN_TIMEOUT, stop_after=1):
                        self.on_change()
        except psycopg.Error as exc:
            logger.warning(
                "listening for run queue changes failed (%s); retrying in %.0f s", exc, RECONNECT_DELAY
            )
