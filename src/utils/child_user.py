"""The unprivileged user a root service runs its children as (training commands, model servers)."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ChildUser:
    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        """What `subprocess.Popen` needs to start a child as this user, with no supplementary groups."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def hand_over(self, path: Path) -> None:
        """Give the user a directory its child writes into (a run's workspace, a log directory)."""
        os.chown(path, self.uid, self.gid)


class ChildUserMissing(RuntimeError):
    """The configured user does not exist on this host."""


def resolve_child_user(name: str | None, *, euid: int | None = None) -> ChildUser | None:
    """The user children run as: None unless the service runs as root and a user is configured.

    A non-root service cannot change user, and its children already run without root.
    """
    if not name or (os.geteuid() if euid is None else euid) != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise ChildUserMissing(
            f"TUNING_RUN_AS_USER is {name!r} but no such user exists: create it (scripts/setup.sh "
            "does: useradd --system tuning) or set TUNING_RUN_AS_USER= to run children as root"
        ) from exc
    if entry.pw_uid == 0:
        raise ChildUserMissing(f"TUNING_RUN_AS_USER {name!r} is root; children must run unprivileged")
    return ChildUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def unreachable_paths(user: ChildUser, paths: list[Path]) -> list[Path]:
    """Those of `paths` the user cannot reach: some directory on the way lacks search permission.

    Read from mode bits (root's own `os.access` answers for root), to warn at start-up
    when, say, the checkout lives under /root and the user cannot run its Python.
    """
    unreachable = []
    for path in paths:
        for directory in [*reversed(path.resolve().parents), path.resolve()]:
            if directory == path.resolve() and not directory.is_dir():
                break
            try:
                info = directory.stat()
            except OSError:
                break
            if info.st_uid == user.uid:
                allowed = info.st_mode & 0o100
            elif info.st_gid == user.gid:
                allowed = info.st_mode & 0o010
            else:
                allowed = info.st_mode & 0o001
            if not allowed:
                unreachable.append(path)
                break
    return unreachable
