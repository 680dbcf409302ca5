"""The reader GET handlers hand their reads to: one worker thread per read, a bounded number at once."""

from __future__ import annotations

import threading

import anyio
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.deps import Reader
from src.models.errors import NotFound
from src.storage import Store, tables


def test_at_most_threads_reads_run_at_once(store: Store) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    threads_used: set[int] = set()

    def slow_read(session: Session, *, index: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threads_used.add(threading.get_ident())
        session.scalar(select(func.count()).select_from(tables.Project))
        threading.Event().wait(0.05)
        with lock:
            running -= 1
        return index

    async def many() -> list[int]:
        reader = Reader(store, threads=2)
        results: list[int] = []
        async with anyio.create_task_group() as group:
            for index in range(8):

                async def one(index: int = index) -> None:
                    results.append(await reader(slow_read, index=index))

                group.start_soon(one)
        return results

    assert sorted(anyio.run(many)) == list(range(8))
    assert most == 2
    assert threading.get_ident() not in threads_used  # never on the event loop's thread


def test_a_read_never_commits_and_gives_its_connection_back_when_it_fails(store: Store) -> None:
    def sneaky_write(session: Session) -> None:
        session.add(tables.Project(name="written-in-a-read", owner="alice"))
        session.flush()
        raise NotFound("nothing here", param="name")

    reader = Reader(store, threads=1)
    checked_out = store.engine.pool.checkedout()
    for _ in range(3):
        with pytest.raises(NotFound):
            anyio.run(reader, sneaky_write)
    assert store.engine.pool.checkedout() == checked_out
    with store.session_scope(read_only=True) as session:
        assert (
            session.scalar(select(tables.Project).where(tables.Project.name == "written-in-a-read")) is None
        )
