"""Run vocabulary shared by runs and tuning jobs."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled})
ACTIVE_STATUSES = frozenset({RunStatus.pending, RunStatus.running})
