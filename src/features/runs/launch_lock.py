"""The launch lock: held by the engine that claimed a run until the run's process is recorded.

A claim commits before the command starts, so for a moment a run is `running` with no
process. An engine killed in that moment leaves such a run behind, and another replica
cannot tell it from one still being launched by looking at the database. The claiming
engine therefore holds an exclusive `flock` on `launch.lock` in the run's workspace from
before its claim commits until the process is recorded; the kernel drops the lock when
that process dies, so a monitor that can take it knows nobody is launching the run.
The engine touches the file just before it starts the command, and the command's
wrapper writes its `pid` first thing, so a free lock, no `pid` file and a file left
untouched for `LAUNCH_GRACE` seconds mean the command never started.
Workspaces are on one filesystem for every replica (they follow each other's runs by
process group, so they share a host).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

LOCK_NAME = "launch.lock"
# longer than a wrapper ever takes from its start to its `pid` file
LAUNCH_GRACE = 5.0


class LaunchLock:
    """An exclusive lock on one run's launch; `release` (or the process's death) drops it."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd  # None: nothing to hold (a workspace that is gone; its launch fails on its own)

    def touch(self) -> None:
        """Say that the command starts now."""
        if self._fd is not None:
            os.utime(self._fd)

    def idle_seconds(self) -> float:
        """Seconds since the lock file was created or last touched."""
        return time.time() - os.fstat(self._fd).st_mtime if self._fd is not None else 0.0

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def try_lock(workspace: Path) -> LaunchLock | None:
    """The run's launch lock, or None while an engine in any process holds it.

    Raises OSError when the workspace cannot hold the lock file (it is gone).
    """
    fd = os.open(workspace / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        # flock, not lockf: a flock conflicts between two descriptors of one process too
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return LaunchLock(fd)
