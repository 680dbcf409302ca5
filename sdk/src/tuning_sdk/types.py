"""Result models: typed fields, item access as well (`health["status"]`), and fields a newer
server adds kept rather than refused, so an older SDK keeps working against it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

if TYPE_CHECKING:
    from tuning_sdk.client import TuningClient


class APIObject(BaseModel):
    """A server object: its fields as attributes and as items; the answer as sent in `.raw`."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    _raw: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_answer(cls, data: Any, handler: Any) -> Any:
        model = handler(data)
        if isinstance(data, dict):
            model._raw = dict(data)
        return model

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object the server sent (what the CLI prints)."""
        return self._raw if self._raw is not None else self.model_dump(mode="json")

    def _has(self, name: str) -> bool:
        return name in type(self).model_fields or name in (self.__pydantic_extra__ or {})

    def __getitem__(self, name: str) -> Any:
        if not self._has(name):
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.raw

    def get(self, name: str, default: Any = None) -> Any:
        """The field's value, or `default` when the model has no such field."""
        return getattr(self, name) if self._has(name) else default


# the generic result of earlier SDK versions; every model is one
Record = APIObject


class Message(APIObject):
    """What deletes and other plain acknowledgements answer."""

    detail: str


class DeletedObject(APIObject):
    id: str
    object: str | None = None
    deleted: bool = True


# -- health, GPUs, models, files ------------------------------------------------------


class HealthReport(APIObject):
    status: str
    version: str | None = None
    uptime: float | None = None
    active_jobs: int | None = None
    total_jobs: int | None = None


class GpuHolder(APIObject):
    type: str
    id: str


class Gpu(APIObject):
    id: str
    name: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    utilization_percent: int | None = None
    held: bool = False
    holder: GpuHolder | None = None


class Model(APIObject):
    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None
    kind: str | None = None
    path: str | None = None


class FileObject(APIObject):
    id: str
    bytes: int
    created_at: int | None = None
    filename: str
    purpose: str | None = None
    status: str
    status_details: str | None = None


# -- tuning jobs ----------------------------------------------------------------------


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


class JobMetrics(APIObject):
    progress: float = 0.0
    current_epoch: float | None = None
    total_epochs: float | None = None
    current_step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    eval_loss: float | None = None

    @field_validator("progress", mode="before")
    @classmethod
    def _no_progress_is_zero(cls, value: Any) -> Any:
        return 0.0 if value is None else value


class JobError(APIObject):
    code: str
    message: str


class TuningJob(APIObject):
    """A tuning job, with helpers that talk to the server through the client it came from."""

    id: str
    model: str
    status: JobStatus
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    training_file: str | None = None
    validation_file: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: JobMetrics | None = None
    summary: dict[str, float] | None = None
    result_files: list[str] = Field(default_factory=list)
    fine_tuned_model: str | None = None
    error: JobError | None = None
    duration: float | None = None
    queue_position: int | None = None
    run_id: str

    _client: Any = PrivateAttr(default=None)

    @field_validator("status", mode="before")
    @classmethod
    def _unknown_status(cls, value: Any) -> JobStatus:
        return value if isinstance(value, JobStatus) else JobStatus.parse(str(value))

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics_once_there_is_a_loss(cls, value: Any) -> Any:
        """A job reports metrics once a loss is known; before that `metrics` is None."""
        if isinstance(value, dict) and value.get("train_loss") is None and value.get("eval_loss") is None:
            return None
        return value or None

    @classmethod
    def bound(cls, data: Any, client: Any) -> TuningJob:
        job = cls.model_validate(data)
        job._client = client
        return job

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
        return cast("TuningClient", self._client)

    def _take(self, fresh: TuningJob) -> TuningJob:
        """Become `fresh` in place, so a caller's reference sees the new state."""
        self.__dict__.update(fresh.__dict__)
        self.__pydantic_extra__ = fresh.__pydantic_extra__
        self.__pydantic_fields_set__ = fresh.__pydantic_fields_set__
        self._raw = fresh._raw
        return self

    def refresh(self) -> TuningJob:
        return self._take(self._bound().tunings.get(self.id))

    def cancel(self) -> TuningJob:
        return self._take(self._bound().tunings.cancel(self.id))

    def wait(self, **kwargs: Any) -> TuningJob:
        return self._take(self._bound().tunings.wait(self.id, **kwargs))


class MetricPoint(APIObject):
    step: int | None = None
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    throughput: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    created_at: datetime | None = None


# -- projects, runs -------------------------------------------------------------------


class RunCounts(APIObject):
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


class Project(APIObject):
    name: str
    description: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    dataset_name: str | None = None
    training_yaml_name: str | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    run_counts: RunCounts | None = None


class RunError(APIObject):
    cause: str
    message: str
    exit_code: int | None = None
    log_tail: list[str] = Field(default_factory=list)


class Run(APIObject):
    """A run; `status` is a plain string (pending, running, succeeded, failed, cancelled)."""

    id: str
    project: str
    owner: str | None = None
    status: str
    executor: str | None = None
    progress: float = 0.0
    current_step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    summary: dict[str, float] | None = None
    dataset: str | None = None
    train_config: str | None = None
    gpus: int | None = None
    gpu_ids: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    note: str | None = None
    command: list[str] = Field(default_factory=list)
    workspace: str | None = None
    output_dir: str | None = None
    queue_position: int | None = None
    pending_reason: str | None = None
    error: RunError | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class LogLine(APIObject):
    seq: int
    line: str
    source: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class LogPage(APIObject):
    """A page of a run's log: `data` (lines), `has_more`, `last_seq` (pass as `after`)."""

    data: list[LogLine]
    has_more: bool = False
    last_seq: int = 0


class Artifact(APIObject):
    id: str
    path: str
    bytes: int
    sha256: str | None = None
    kind: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


# -- datasets, train configs ----------------------------------------------------------


class DatasetCreated(APIObject):
    id: str
    created_at: datetime | None = None


class DatasetFile(APIObject):
    upload_id: str
    name: str
    stored_name: str | None = None
    bytes: int
    sha256: str | None = None
    uploaded_at: datetime | None = None
    status: str
    format: str | None = None
    records: int | None = None
    validation: dict[str, Any] | None = None


class TrainConfigLink(APIObject):
    id: str
    name: str
    filename: str | None = None


class Dataset(APIObject):
    id: str
    name: str
    owner: str | None = None
    type: str | None = None
    description: str | None = None
    task_type: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    strict: bool = False
    status: str
    status_reasons: list[str] = Field(default_factory=list)
    files: list[DatasetFile] = Field(default_factory=list)
    train_config: TrainConfigLink | None = None
    upload_progress: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DatasetUpload(APIObject):
    upload_id: str
    dataset_id: str
    bytes: int
    filename: str
    stored_name: str | None = None
    sha256: str | None = None
    status: str
    records: int | None = None
    invalid_records: int | None = None
    status_reason: str | None = None


class PreviewRecord(APIObject):
    upload_id: str | None = None
    line: int
    format: str | None = None
    record: Any = None


class TrainConfig(APIObject):
    id: str
    name: str
    filename: str | None = None
    owner: str | None = None
    size: int | None = None
    sha256: str | None = None
    uploaded_at: datetime | None = None
    slot: bool = False
    summary: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


# -- de-identification ----------------------------------------------------------------


class DeidEntity(APIObject):
    type: str
    start: int
    end: int
    replacement: str


class DeidTextResult(APIObject):
    text: str
    entities: list[DeidEntity] = Field(default_factory=list)


class DeidTestResult(APIObject):
    policy_id: str
    results: list[DeidTextResult]
    counts: dict[str, int] = Field(default_factory=dict)
    mapping: dict[str, str] | None = None


class DeidPolicy(APIObject):
    id: str
    name: str
    description: str | None = None
    owner: str | None = None
    builtin: bool = False
    entities: dict[str, dict[str, Any]] = Field(default_factory=dict)
    allow_list: list[str] = Field(default_factory=list)
    dictionary: dict[str, list[str]] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DeidJob(APIObject):
    """A dataset de-identification job; `status` is a plain string (…, succeeded, failed)."""

    id: str
    status: str
    dataset_id: str
    output_dataset_id: str | None = None
    policy_id: str | None = None
    seed: int | None = None
    store_mapping: bool = False
    files_done: int = 0
    files_total: int = 0
    records: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


# -- deployments ----------------------------------------------------------------------


class Deployment(APIObject):
    """A model server; `status` is a plain string (starting, running, unhealthy, stopping, …)."""

    id: str
    deployment_id: str | None = None
    model_path: str | None = None
    model_version: str | None = None
    served_model_name: str | None = None
    run_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    gpu_id: int | str | None = None
    gpu_ids: list[str] = Field(default_factory=list)
    port: int | None = None
    pid: int | None = None
    status: str
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    health_ok: bool = False
    vllm_cmd: str | None = None
    log_file: str | None = None
    health_path: str | None = None
    base_url: str | None = None
    error: str | None = None
    exit_code: int | None = None


class DeploymentRemoved(APIObject):
    detail: str
    deployment_id: str
