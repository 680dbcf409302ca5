"""Result objects: attribute access, unknown fields from a newer server kept in `.raw`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuning_sdk.client import TuningClient


class JobStatus(str, Enum):  # noqa: UP042 - StrEnum needs Python 3.11; the SDK supports 3.10
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    unknown = "unknown"

    @classmethod
    def parse(cls, value: str) -> JobStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.unknown


TERMINAL = {JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled}


@dataclass(frozen=True)
class JobMetrics:
    progress: float
    current_epoch: float | None
    total_epochs: float | None
    current_step: int | None
    total_steps: int | None
    train_loss: float | None
    eval_loss: float | None

    @classmethod
    def parse(cls, data: dict[str, Any] | None) -> JobMetrics | None:
        if not data or (data.get("train_loss") is None and data.get("eval_loss") is None):
            return None
        return cls(
            progress=float(data.get("progress") or 0.0),
            current_epoch=data.get("current_epoch"),
            total_epochs=data.get("total_epochs"),
            current_step=data.get("current_step"),
            total_steps=data.get("total_steps"),
            train_loss=data.get("train_loss"),
            eval_loss=data.get("eval_loss"),
        )


class Record:
    """A server object: its fields as attributes, the whole answer in `.raw`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.raw = dict(data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.raw[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def __getitem__(self, name: str) -> Any:
        return self.raw[name]

    def __repr__(self) -> str:
        key = self.raw.get("id") or self.raw.get("name")
        return f"<{type(self).__name__} {key}>"


class TuningJob(Record):
    """A tuning job, with helpers that talk to the server through the client it came from."""

    def __init__(self, data: dict[str, Any], client: Any = None) -> None:
        super().__init__(data)
        self._client = client

    @property
    def status(self) -> JobStatus:
        return JobStatus.parse(self.raw.get("status", ""))

    @property
    def metrics(self) -> JobMetrics | None:
        return JobMetrics.parse(self.raw.get("metrics"))

    @property
    def result_files(self) -> list[str]:
        return list(self.raw.get("result_files") or [])

    @property
    def is_successful(self) -> bool:
        return self.status is JobStatus.succeeded

    @property
    def is_failed(self) -> bool:
        return self.status is JobStatus.failed

    @property
    def is_cancelled(self) -> bool:
        return self.status is JobStatus.cancelled

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def _bound(self) -> TuningClient:
        if self._client is None:
            raise RuntimeError("this job is not bound to a client")
        return self._client

    def refresh(self) -> TuningJob:
        fresh = self._bound().tunings.get(self.id)
        self.raw = fresh.raw
        return self

    def cancel(self) -> TuningJob:
        self.raw = self._bound().tunings.cancel(self.id).raw
        return self

    def wait(self, **kwargs: Any) -> TuningJob:
        self.raw = self._bound().tunings.wait(self.id, **kwargs).raw
        return self
