"""The periodic-worker base: passes on a thread, failures logged, a stop that lets a pass finish."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from src.utils.periodic import PeriodicWorker


class Counter(PeriodicWorker):
    def __init__(self, *, interval: float = 0.01, fail_first: int = 0, **kwargs: object) -> None:
        super().__init__(name="counter", interval=interval, **kwargs)
        self.passes = 0
        self.fail_first = fail_first
        self.reached = threading.Event()

    def tick(self) -> None:
        self.passes += 1
        if self.passes >= 3:
            self.reached.set()
        if self.passes <= self.fail_first:
            raise RuntimeError(f"pass {self.passes} broke")


def test_ticks_repeatedly_until_stopped() -> None:
    worker = Counter()
    worker.start()
    assert worker.reached.wait(5)
    assert worker.is_running
    worker.stop(timeout=5)
    assert not worker.is_running and worker.stopping
    after_stop = worker.passes
    time.sleep(0.05)
    assert worker.passes == after_stop


def test_a_failing_pass_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    worker = Counter(fail_first=2)
    with caplog.at_level(logging.ERROR, logger="src.utils.periodic"):
        worker.start()
        assert worker.reached.wait(5)
        worker.stop(timeout=5)
    failures = [r for r in caplog.records if r.getMessage() == "counter pass failed"]
    assert len(failures) == 2 and failures[0].exc_info is not None


def test_stop_lets_the_current_pass_finish() -> None:
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    class Slow(PeriodicWorker):
        def tick(self) -> None:
            entered.set()
            release.wait(5)
            finished.set()

    worker = Slow(name="slow", interval=60)
    worker.start()
    assert entered.wait(5)
    stopper = threading.Thread(target=worker.stop, kwargs={"timeout": 5})
    stopper.start()
    time.sleep(0.05)
    assert worker.is_running and not finished.is_set()
    release.set()
    stopper.join(5)
    assert finished.is_set() and not worker.is_running


def test_stop_wakes_a_worker_waiting_out_a_long_interval() -> None:
    worker = Counter(interval=60)
    worker.start()
    time.sleep(0.05)
    started = time.monotonic()
    worker.stop(timeout=5)
    assert not worker.is_running and time.monotonic() - started < 2
    assert worker.passes == 1


def test_pacing_from_the_start_counts_the_pass_in_the_interval() -> None:
    class Timed(PeriodicWorker):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(name="timed", interval=0.4, **kwargs)
            self.starts: list[float] = []

        def tick(self) -> None:
            self.starts.append(time.monotonic())
            time.sleep(0.3)

    def gap(pace_from_start: bool) -> float:
        worker = Timed(pace_from_start=pace_from_start)
        worker.start()
        deadline = time.monotonic() + 5
        while len(worker.starts) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.stop(timeout=5)
        return worker.starts[1] - worker.starts[0]

    assert gap(True) < 0.6 <= gap(False)  # about 0.4 s against 0.7 s


def test_stop_and_join_before_start_do_nothing() -> None:
    worker = Counter()
    worker.join(timeout=0.1)
    worker.stop(timeout=0.1)
    assert not worker.is_running and worker.passes == 0


def test_tick_must_be_implemented() -> None:
    with pytest.raises(NotImplementedError):
        PeriodicWorker(name="bare", interval=1).tick()


def test_wake_starts_the_next_pass_before_the_interval_ends() -> None:
    worker = Counter(interval=60)
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while worker.passes < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.wake()
        worker.wake()
        assert worker.reached.wait(0.5) is False  # two wakes before a pass are one pass
        assert worker.passes == 2
        worker.wake()
        assert worker.reached.wait(5)  # without the wake, the third pass would come after 60 s
    finally:
        worker.stop(timeout=5)


def test_a_wake_during_a_pass_runs_another_pass_right_after_it() -> None:
    entered, release = threading.Event(), threading.Event()

    class Blocking(PeriodicWorker):
        def __init__(self) -> None:
            super().__init__(name="blocking", interval=60)
            self.passes = 0

        def tick(self) -> None:
            self.passes += 1
            if self.passes == 1:
                entered.set()
                release.wait(5)

    worker = Blocking()
    worker.start()
    try:
        assert entered.wait(5)
        worker.wake()  # while the first pass is still running
        release.set()
        deadline = time.monotonic() + 5
        while worker.passes < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.passes == 2
    finally:
        worker.stop(timeout=5)
