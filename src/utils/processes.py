"""The service's child processes: their environment, their start, liveness, stop and exit code.

Every program the service starts on this host (a run's wrapper, a model server)
goes through here:

- its environment starts from `service_environment()`, the service's own minus
  its secrets;
- it starts in a new session, so its pid is the id of a process group that
  holds everything it spawns, and a signal to the group reaches them all;
- it is alive while /proc shows that pid, not a zombie, with the command line
  it was started with (a recycled pid belongs to another program);
- it stops with TERM to the group, then KILL after a grace period;
- its exit code comes from waitpid() while the service is its parent: /proc
  empties an exiting process's command line before the parent reaps it, so
  only a process adopted after a restart is judged by /proc, and its code is
  unknowable.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from src.utils.child_user import ChildUser

# The service's settings, its keys and the database URL: no child sees them.
SERVICE_SECRET_PREFIXES = ("TUNING_", "TRAINING_DB_URL")

Child = subprocess.Popen[bytes]


def service_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The service's own environment minus its secrets (keys, database URL, its settings)."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items() if not name.startswith(SERVICE_SECRET_PREFIXES)}


def start(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    output: IO[bytes] | int = subprocess.DEVNULL,
    run_as: ChildUser | None = None,
    home: Path | None = None,
) -> Child:
    """Start `argv` as the leader of a new session, stdin closed, stdout and stderr to `output`.

    With `run_as` (the service runs as root) it starts as that user without supplementary
    groups; `home` is handed over to the user and becomes its HOME. Raises OSError or
    ValueError (a NUL in an argument) when it cannot start.
    """
    child_env = dict(env)
    user_kwargs = {}
    if run_as is not None:
        if home is None:
            raise ValueError("a child started as another user needs a home of its own")
        run_as.hand_over(home)
        child_env.update({"HOME": str(home), "USER": run_as.name, "LOGNAME": run_as.name})
        user_kwargs = run_as.popen_kwargs()
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **user_kwargs,
    )


def command_line(pid: int | None) -> list[str] | None:
    """The command line of a running process; None when there is none, or it is a zombie."""
    if pid is None:
        return None
    proc = Path(f"/proc/{pid}")
    try:
        state = proc_state((proc / "stat").read_text())
        raw = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if state in (None, "Z"):
        return None
    return [os.fsdecode(part) for part in raw.split(b"\0") if part]


def proc_state(stat_text: str) -> str | None:
    """The state letter of a /proc/<pid>/stat line (after the command in parentheses)."""
    _, _, rest = stat_text.rpartition(")")
    fields = rest.split()
    return fields[0] if fields else None


def is_alive(pid: int | None, *, command: Sequence[str] | None = None, argument: str | None = None) -> bool:
    """The process runs (not a zombie) and is ours: its command line is `command`, or holds `argument`."""
    if command is None and argument is None:
        raise ValueError("say which command line the process must have")
    running = command_line(pid)
    if running is None:
        return False
    if command is not None and running != list(command):
        return False
    return argument is None or argument in running


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to a process group; a group that is gone, or not ours to signal, is left alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def terminate_group(pid: int | None, *, command: Sequence[str], grace: float) -> None:
    """TERM the process group led by `pid`, then KILL after `grace` seconds (at once when grace is 0).

    Does nothing unless `pid` still runs `command`; returns once it is gone (or 5 s after the KILL).
    """
    if not is_alive(pid, command=command):
        return
    assert pid is not None
    signal_group(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
    if _gone_within(grace, pid, command=command):
        return
    signal_group(pid, signal.SIGKILL)
    _gone_within(5.0, pid, command=command)


def _gone_within(seconds: float, pid: int, *, command: Sequence[str]) -> bool:
    deadline = time.monotonic() + seconds
    while is_alive(pid, command=command):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def exit_status(child: Child | None, *, pid: int | None, command: Sequence[str]) -> tuple[bool, int | None]:
    """(ended, exit code) of a process started as `command`.

    For our own child only waitpid() (`poll()`) speaks: /proc shows an exiting process as a
    zombie with an empty command line before its parent reaps it, and a verdict taken from
    there would find it gone with its exit code not yet read. /proc decides only for a
    process adopted after a restart (`child` None), whose exit code no one can read.
    """
    if child is None:
        return not is_alive(pid, command=command), None
    code = child.poll()
    return code is not None, code


def reap(child: Child | None, *, timeout: float = 5.0) -> int | None:
    """Wait for a child told to end; its exit code, or None when it is not ours or outlives `timeout`."""
    if child is None:
        return None
    with contextlib.suppress(subprocess.TimeoutExpired):
        return child.wait(timeout=timeout)
    return None


def reap_when_done(child: Child, *, name: str) -> None:
    """Reap `child` on a daemon thread the moment it exits, so it never lingers as a zombie.

    For a child whose exit code is read elsewhere (a run's wrapper writes it to disk).
    """
    threading.Thread(target=child.wait, name=name, daemon=True).start()
