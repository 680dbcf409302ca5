"""Background work owned by the application: a small thread pool that stops cleanly."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

logger = logging.getLogger(__name__)


class BackgroundWorkers:
    """Runs jobs off the request path; on shutdown asks them to stop and waits for them.

    Jobs receive nothing special: long ones poll `should_stop` (pass it in) and
    leave their work resumable, since the service may be killed at any moment.
    """

    def __init__(self, *, max_workers: int = 2) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="background")
        self._stop = threading.Event()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def submit(self, job: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def run() -> Any:
            try:
                return job(*args, **kwargs)
            except Exception:
                logger.exception("background job %s failed", getattr(job, "__name__", job))
                raise

        return self._executor.submit(run)

    def shutdown(self) -> None:
        """Stop accepting jobs, drop queued ones, and wait for running ones to notice the stop."""
        self._stop.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
