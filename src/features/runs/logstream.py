"""A run's log as Server-Sent Events, from a given line on, until the run ends.

The API's `/runs/{id}/logs/stream` and the dashboard's run page both serve this stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio.to_thread

from src.features.runs import service, state
from src.models.errors import Invalid
from src.models.runs import LogPage
from src.storage import Store
from src.storage.tables import Run

MAX_LOG_SEQ = 2**31 - 1  # log sequence numbers are 32-bit integers


def resume_after(after: int, last_event_id: str | None) -> int:
    """Where a stream starts: after the last event a reconnecting client saw, else after `after`."""
    if not last_event_id or not (last_event_id.isascii() and last_event_id.isdigit()):
        return after
    seq = int(last_event_id)
    if seq > MAX_LOG_SEQ:
        raise Invalid(
            f"Last-Event-ID must be an event id this stream sent (0 to {MAX_LOG_SEQ})",
            param="Last-Event-ID",
            code="invalid_last_event_id",
        )
    return seq


async def follow(
    store: Store, run_id: str, after: int, *, allowed: Callable[[], Awaitable[bool]] | None = None
) -> AsyncIterator[str]:
    """The lines after `after` as SSE events, polling every 0.5 s, until the run ends.

    `allowed`, when given, is asked before each page of lines (and each idle poll): once it
    says no (the dashboard session that opened the stream is over), the stream stops.
    """
    while True:
        page, finished = await anyio.to_thread.run_sync(_next_lines, store, run_id, after)
        if allowed is not None and not await allowed():
            return
        for line in page.data:
            yield f"id: {line.seq}\ndata: {json.dumps(line.model_dump(mode='json'))}\n\n"
        after = page.last_seq
        if finished and not page.has_more:
            yield f"event: end\ndata: {json.dumps({'run_id': run_id})}\n\n"
            return
        if not page.has_more:
            await asyncio.sleep(0.5)


def _next_lines(store: Store, run_id: str, after: int) -> tuple[LogPage, bool]:
    with store.session_scope(read_only=True) as session:
        run = session.get(Run, run_id)
        finished = run is None or state.is_finished(run)
        # read the status before the lines, so lines written just before the end are not missed
        return service.read_logs(session, run=run, after=after, limit=500) if run else LogPage(
            data=[], has_more=False, last_seq=after
        ), finished
