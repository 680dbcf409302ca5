"""Child processes: environment, a new session, liveness by pid and command line, stop, exit code."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from src.utils import processes
from src.utils.child_user import ChildUser

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
# ignores TERM, says so once it does, then sleeps
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)",
]


@pytest.fixture
def children() -> Iterator[list[processes.Child]]:
    """Children a test started; any still running are killed and reaped afterwards."""
    started: list[processes.Child] = []
    yield started
    for child in started:
        if child.poll() is None:
            processes.signal_group(child.pid, signal.SIGKILL)
        child.wait(5)


def start(
    children: list[processes.Child],
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    output: IO[bytes] | None = None,
    run_as: ChildUser | None = None,
    home: Path | None = None,
) -> processes.Child:
    child = processes.start(
        argv,
        env=processes.service_environment() if env is None else env,
        output=subprocess.DEVNULL if output is None else output,
        run_as=run_as,
        home=home,
    )
    children.append(child)
    return child


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_environment_drops_the_service_secrets() -> None:
    environ = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "TUNING_API_KEYS": "admin-key",
        "TUNING_SECRETS_KEY": "s3cret",
        "TRAINING_DB_URL": "postgresql://u:p@db/x",
    }
    assert processes.service_environment(environ) == {"PATH": "/usr/bin", "LANG": "C.UTF-8"}


def test_a_child_gets_exactly_the_environment_it_is_given(
    children: list[processes.Child], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNING_SECRETS_KEY", "s3cret")
    env = processes.service_environment() | {"CUDA_VISIBLE_DEVICES": "1"}
    out = tmp_path / "env.txt"
    with out.open("wb") as output:
        child = start(children, ["env"], env=env, output=output)
    assert processes.reap(child) == 0
    lines = out.read_text().splitlines()
    assert "CUDA_VISIBLE_DEVICES=1" in lines
    assert not any(line.startswith(("TUNING_", "TRAINING_DB_URL")) for line in lines)


def test_a_child_leads_its_own_session_and_is_alive_by_pid_and_command_line(
    children: list[processes.Child],
) -> None:
    child = start(children, SLEEPER)
    assert os.getsid(child.pid) == child.pid and os.getpgid(child.pid) == child.pid
    assert wait_until(lambda: processes.command_line(child.pid) == SLEEPER)
    assert processes.is_alive(child.pid, command=SLEEPER)
    assert processes.is_alive(child.pid, argument="import time; time.sleep(60)")
    assert processes.exit_status(child, pid=child.pid, command=SLEEPER) == (False, None)


def test_a_pid_running_another_command_line_is_not_alive() -> None:
    # this test's own pid is alive, but it is not the program asked about (a recycled pid)
    assert not processes.is_alive(os.getpid(), command=SLEEPER)
    assert not processes.is_alive(os.getpid(), argument="/no/such/workspace")
    assert not processes.is_alive(None, command=SLEEPER)
    with pytest.raises(ValueError, match="which command line"):
        processes.is_alive(os.getpid())


def test_a_pid_that_does_not_exist_is_not_alive() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    unused = next(pid for pid in range(pid_max, 1, -1) if not Path(f"/proc/{pid}").exists())
    assert not processes.is_alive(unused, command=SLEEPER)
    assert processes.command_line(unused) is None


def test_a_zombie_is_not_alive_but_its_exit_code_is_still_read(children: list[processes.Child]) -> None:
    argv = [sys.executable, "-c", "raise SystemExit(3)"]
    child = start(children, argv)
    stat = Path(f"/proc/{child.pid}/stat")
    assert wait_until(lambda: processes.proc_state(stat.read_text()) == "Z")  # exited, not reaped yet
    assert not processes.is_alive(child.pid, command=argv)
    assert processes.exit_status(child, pid=child.pid, command=argv) == (True, 3)
    assert not Path(f"/proc/{child.pid}").exists()  # poll() reaped it: no zombie left


def test_the_parent_decides_even_when_proc_calls_the_child_gone_first(
    children: list[processes.Child], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(7)"]
    child = start(children, argv)
    monkeypatch.setattr(processes, "is_alive", lambda pid, *, command: False)
    assert processes.exit_status(child, pid=child.pid, command=argv) == (False, None)
    assert wait_until(lambda: processes.exit_status(child, pid=child.pid, command=argv)[0])
    assert processes.exit_status(child, pid=child.pid, command=argv) == (True, 7)


def test_an_adopted_process_is_judged_by_proc_and_has_no_exit_code(children: list[processes.Child]) -> None:
    child = start(children, SLEEPER)
    assert wait_until(lambda: processes.is_alive(child.pid, command=SLEEPER))
    assert processes.exit_status(None, pid=child.pid, command=SLEEPER) == (False, None)
    processes.terminate_group(child.pid, command=SLEEPER, grace=0)
    assert processes.exit_status(None, pid=child.pid, command=SLEEPER) == (True, None)


def test_terminate_sends_term_and_a_cooperative_child_ends_with_it(children: list[processes.Child]) -> None:
    child = start(children, SLEEPER)
    assert wait_until(lambda: processes.is_alive(child.pid, command=SLEEPER))
    started = time.monotonic()
    processes.terminate_group(child.pid, command=SLEEPER, grace=10)
    assert time.monotonic() - started < 5
    assert processes.reap(child) == -signal.SIGTERM


def test_a_child_that_ignores_term_is_killed_after_the_grace(
    children: list[processes.Child], tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    with out.open("wb") as output:
        child = start(children, STUBBORN, output=output)
    assert wait_until(lambda: out.read_text().strip() == "ready")
    started = time.monotonic()
    processes.terminate_group(child.pid, command=STUBBORN, grace=0.5)
    assert time.monotonic() - started >= 0.5
    assert not processes.is_alive(child.pid, command=STUBBORN)
    assert processes.reap(child) == -signal.SIGKILL


def test_terminate_reaches_the_whole_group(children: list[processes.Child], tmp_path: Path) -> None:
    grandchild_file = tmp_path / "grandchild"
    argv = ["sh", "-c", f'sleep 60 & echo $! > "{grandchild_file}"; wait']
    child = start(children, argv)
    assert wait_until(
        lambda: grandchild_file.read_text().strip().isdigit() if grandchild_file.exists() else False
    )
    grandchild = int(grandchild_file.read_text())
    assert wait_until(lambda: processes.command_line(grandchild) == ["sleep", "60"])
    processes.terminate_group(child.pid, command=argv, grace=5)
    assert processes.reap(child) is not None
    assert wait_until(lambda: processes.command_line(grandchild) is None)


def test_terminate_leaves_a_pid_running_another_program_alone() -> None:
    processes.terminate_group(os.getpid(), command=SLEEPER, grace=0)  # would kill this test
    processes.terminate_group(None, command=SLEEPER, grace=0)


def test_reap_returns_none_for_no_child_or_one_that_outlives_the_timeout(
    children: list[processes.Child],
) -> None:
    assert processes.reap(None) is None
    child = start(children, SLEEPER)
    assert processes.reap(child, timeout=0.1) is None


def test_reap_when_done_leaves_no_zombie(children: list[processes.Child]) -> None:
    child = start(children, [sys.executable, "-c", "pass"])
    processes.reap_when_done(child, name="reap-test")
    assert wait_until(lambda: not Path(f"/proc/{child.pid}").exists())
    assert child.returncode == 0


def test_a_failed_start_raises() -> None:
    with pytest.raises(OSError):
        processes.start(["/no/such/program"], env={})
    with pytest.raises(ValueError):
        processes.start(["echo", "a\0b"], env={})


def test_another_user_needs_a_home() -> None:
    user = ChildUser(name="nobody", uid=65534, gid=65534)
    with pytest.raises(ValueError, match="home"):
        processes.start(SLEEPER, env={}, run_as=user)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root starts children as another user")
def test_a_child_runs_as_the_given_user_with_its_home(
    children: list[processes.Child], tmp_path: Path
) -> None:
    entry = pwd.getpwnam("nobody")
    user = ChildUser(name="nobody", uid=entry.pw_uid, gid=entry.pw_gid)
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "out.txt"
    with out.open("wb") as output:
        child = start(
            children, ["sh", "-c", 'id -u; id -G; echo "$HOME $USER"'], output=output, run_as=user, home=home
        )
    assert processes.reap(child) == 0
    assert out.read_text().split("\n")[:3] == [str(user.uid), str(user.gid), f"{home} nobody"]
    assert home.stat().st_uid == user.uid


def test_proc_state_reads_past_a_command_with_parentheses() -> None:
    assert processes.proc_state("42 (a) b) S 1 42") == "S"
    assert processes.proc_state("42 (x)") is None
