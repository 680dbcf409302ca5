"""SQLite under concurrent read-then-write transactions: no 'database is locked', no lost update."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from src.storage import Store
from src.storage.tables import Project

THREADS = 8
TRANSACTIONS = 300


def test_read_then_write_from_eight_threads(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'busy.db'}", pool_size=THREADS)
    store.upgrade()
    with store.session_scope() as session:
        session.add(Project(name="counter", owner="t", description="0"))
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work() -> None:
        start.wait()
        try:
            for _ in range(TRANSACTIONS):
                with store.session_scope() as session:
                    project = session.scalar(select(Project).where(Project.name == "counter"))
                    project.description = str(int(project.description) + 1)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.session_scope(read_only=True) as session:
        final = session.scalar(select(Project.description).where(Project.name == "counter"))
    store.dispose()
    assert errors == []
    assert final == str(THREADS * TRANSACTIONS)


def test_read_only_sessions_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    """A reader is not blocked by an open write transaction (WAL + deferred BEGIN for reads)."""
    store = Store(f"sqlite:///{tmp_path / 'rw.db'}", pool_size=2, busy_timeout_ms=200)
    store.upgrade()
    with store.session_scope() as writer:
        writer.add(Project(name="held", owner="t"))
        writer.flush()
        with store.session_scope(read_only=True) as reader:
            assert reader.scalar(select(Project.name).where(Project.name == "held")) is None
    store.dispose()
