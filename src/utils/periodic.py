"""A background worker that does one pass (`tick`) every interval until it is stopped.

The service's background loops (the run engine, the deployment manager) share
this shape: a daemon thread, a pass that may fail without ending the loop, and
a stop that lets the current pass finish, and a `wake` that starts the next pass
now instead of at the end of the interval. Their state lives in the store, so a
worker stopped between passes loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)


class PeriodicWorker:
    """Calls `tick()` every `interval` seconds on its own thread; an exception is logged, not fatal.

    With `pace_from_start` the interval runs from the start of one pass to the start of the next
    (a slow pass shortens the wait); without it, the full interval is waited after each pass.
    """

    def __init__(self, *, name: str, interval: float, pace_from_start: bool = False) -> None:
        self.name = name
        self.interval = interval
        self.pace_from_start = pace_from_start
        self._stop_requested = threading.Event()
        # set by `wake` and by `stop`: either one ends the wait between passes
        self._woken = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One pass of the work; subclasses implement it."""
        raise NotImplementedError

    def start(self) -> None:
        """Run passes on a daemon thread until `stop`."""
        self._stop_requested.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the current pass finish, then end the thread (waiting up to `timeout` seconds)."""
        self._stop_requested.set()
        self._woken.set()
        self.join(timeout)

    def wake(self) -> None:
        """Start the next pass now; a wake during a pass starts another one right after it."""
        self._woken.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end; at once when it was never started."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        """True once `stop` was asked; a long pass may check it to end early."""
        return self._stop_requested.is_set()

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop_requested.is_set():
            # cleared before the pass, so a wake that comes while it runs is not lost
            self._woken.clear()
            started = time.monotonic()
            try:
                self.tick()
            except Exception:
                logger.exception("%s pass failed", self.name)
            if self._stop_requested.is_set():
                break
            elapsed = time.monotonic() - started if self.pace_from_start else 0.0
            self._woken.wait(max(0.0, self.interval - elapsed))
