"""Tables: SQLAlchemy 2.0 typed models on one MetaData with a naming convention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from src.storage.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKey(Base):
    """An API key, stored only as the SHA-256 digest of the secret."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Project(Base):
    """A named unit of work that groups a dataset, a training config and its runs."""

    __tablename__ = "project"
    __table_args__ = (
        Index("ix_project_owner_id", "owner", "id"),
        Index("ix_project_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(64))
    # set on the one project that holds an owner's tuning jobs: found by owner, never by name
    tunings_owner: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    dataset_name: Mapped[str | None] = mapped_column(String(255))
    training_yaml_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # loaded on use; reads fetch the tags of a whole page in one query (projects.service.details)
    tag_rows: Mapped[list[ProjectTag]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectTag.position"
    )
    runs: Mapped[list[Run]] = relationship(back_populates="project", passive_deletes=True)

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @tags.setter
    def tags(self, values: list[str]) -> None:
        self.tag_rows = [ProjectTag(tag=tag, position=i) for i, tag in enumerate(values)]


class ProjectTag(Base):
    """One tag of a project; a table (not a JSON column) so `?tag=` uses an index."""

    __tablename__ = "project_tag"
    __table_args__ = (Index("ix_project_tag_tag_project_id", "tag", "project_id"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    project: Mapped[Project] = relationship(back_populates="tag_rows")


class Run(Base):
    """A training run: what to execute, where it stands, and how it ended."""

    __tablename__ = "run"
    __table_args__ = (
        Index("ix_run_project_id_status", "project_id", "status"),
        Index("ix_run_project_id_id", "project_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="RESTRICT"))
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("dataset.id", ondelete="RESTRICT"), index=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    executor: Mapped[str] = mapped_column(String(16), default="local")
    dataset_ref: Mapped[str | None] = mapped_column(String(255))
    train_config_ref: Mapped[str | None] = mapped_column(String(255))
    gpus_requested: Mapped[int] = mapped_column(Integer, default=0)  # per node
    nodes: Mapped[int] = mapped_column(Integer, server_default="1")
    # the GPUs it holds: ids of this host's inventory, or `node:index` where Slurm placed it
    gpu_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    command: Mapped[list[str]] = mapped_column(JSON, default=list)
    workspace: Mapped[str | None] = mapped_column(String(1024))
    workdir: Mapped[str | None] = mapped_column(String(1024))
    output_dir: Mapped[str | None] = mapped_column(String(1024))
    pgid: Mapped[int | None] = mapped_column(Integer)
    exec_id: Mapped[str | None] = mapped_column(String(128))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    failure_cause: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_tail: Mapped[list[str] | None] = mapped_column(JSON)
    pending_reason: Mapped[str | None] = mapped_column(Text)
    # its place in the cluster scheduler's queue (Slurm) while it waits there; None otherwise
    executor_queue_position: Mapped[int | None] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress: Mapped[float] = mapped_column(default=0.0)
    current_step: Mapped[int | None] = mapped_column(Integer)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    epoch: Mapped[float | None] = mapped_column()
    # the end-of-training figures (`train_loss` average, `train_runtime`, samples/s), not a step's
    summary: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # the step the training loop's tqdm bar in output.log last showed: the step of the log dicts after it
    output_step: Mapped[int | None] = mapped_column(Integer)
    log_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    trainer_log_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    log_lines: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    project: Mapped[Project] = relationship(back_populates="runs")


class RunLog(Base):
    """One log line of a run; `seq` numbers a run's lines from 1 with no gaps.

    The key is (run_id, seq): one index serves paging, tailing and the no-duplicates
    guarantee, and bulk inserts maintain nothing else.
    """

    __tablename__ = "run_log"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), default="output")
    tags: Mapped[str] = mapped_column(String(255), default="")
    line: Mapped[str] = mapped_column(Text)
    # set by the database, so bulk inserts of many lines carry no per-row timestamp to convert
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.current_timestamp())


class RunMetric(Base):
    """One step of a run's training metrics, merged across the sources that reported it."""

    __tablename__ = "run_metric"
    __table_args__ = (
        Index("ix_run_metric_run_id_id", "run_id", "id"),
        Index("ix_run_metric_run_id_step", "run_id", "step"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))
    step: Mapped[int | None] = mapped_column(Integer)
    epoch: Mapped[float | None] = mapped_column()
    loss: Mapped[float | None] = mapped_column()
    eval_loss: Mapped[float | None] = mapped_column()
    lr: Mapped[float | None] = mapped_column()
    grad_norm: Mapped[float | None] = mapped_column()
    throughput: Mapped[float | None] = mapped_column()
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RunArtifact(Base):
    """A file a run left in its output directory."""

    __tablename__ = "run_artifact"
    __table_args__ = (UniqueConstraint("run_id", "path", name="uq_run_artifact_run_id_path"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GpuLease(Base):
    """Which run or deployment holds a GPU; the primary key makes a GPU's lease exclusive."""

    __tablename__ = "gpu_lease"

    gpu_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[str] = mapped_column(String(64), index=True)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GpuHold(Base):
    """The history of GPU holds: one row per (GPU, holder) from acquire to release.

    `gpu_lease` says who holds a GPU now and loses the row on release; this keeps it,
    with its end, for the dashboard's GPU timeline.
    """

    __tablename__ = "gpu_hold"
    __table_args__ = (Index("ix_gpu_hold_ended_at_started_at", "ended_at", "started_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    gpu_id: Mapped[str] = mapped_column(String(32))
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UiSession(Base):
    """A dashboard login: the cookie's digest, the key it was traded for, and its CSRF token.

    The key itself is never stored or sent again; each request checks the key is still
    live, so revoking it ends the session.
    """

    __tablename__ = "ui_session"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrainConfig(Base):
    """A training YAML: the owner's single slot (`is_slot`) or a named config."""

    __tablename__ = "train_config"
    __table_args__ = (Index("ix_train_config_owner_id", "owner", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    is_slot: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Dataset(Base):
    """A named set of uploaded training files, validated as they arrive."""

    __tablename__ = "dataset"
    __table_args__ = (
        Index("ix_dataset_owner_id", "owner", "id"),
        Index("ix_dataset_status_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    task_type: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    strict: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    train_config_id: Mapped[str | None] = mapped_column(
        ForeignKey("train_config.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    files: Mapped[list[DatasetFile]] = relationship(
        back_populates="dataset",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="DatasetFile.upload_id",
    )
    train_config: Mapped[TrainConfig | None] = relationship(lazy="selectin")


class DatasetFile(Base):
    """One uploaded file of a dataset and what validation found in it."""

    __tablename__ = "dataset_file"

    upload_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(300))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="validating")
    format: Mapped[str | None] = mapped_column(String(32))
    records: Mapped[int | None] = mapped_column(Integer)
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="files")

    @property
    def media_type(self) -> str:
        return "application/jsonl" if self.name.endswith(".jsonl") else "application/json"


class TuningJob(Base):
    """An OpenAI-style fine-tuning job: a run underneath, plus what the job API promises."""

    __tablename__ = "tuning_job"
    __table_args__ = (
        # lists go newest first by (created_at, id), an owner's or (admins) everyone's
        Index("ix_tuning_job_owner_created_at_id", "owner", "created_at", "id"),
        Index("ix_tuning_job_created_at_id", "created_at", "id"),
        UniqueConstraint("owner", "idempotency_key", name="uq_tuning_job_owner_idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), unique=True)
    owner: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    training_file: Mapped[str] = mapped_column(String(255))
    validation_file: Mapped[str | None] = mapped_column(String(255))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    fine_tuned_model: Mapped[str] = mapped_column(String(400), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    run: Mapped[Run] = relationship(lazy="joined")


class Deployment(Base):
    """A model-server process the service starts, watches and stops."""

    __tablename__ = "deployment"
    __table_args__ = (Index("ix_deployment_owner_id", "owner", "id"), Index("ix_deployment_status", "status"))

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    model_path: Mapped[str] = mapped_column(String(1024))
    model_version: Mapped[str | None] = mapped_column(String(128))
    served_model_name: Mapped[str] = mapped_column(String(255))
    run_id: Mapped[str | None] = mapped_column(String(32))
    checkpoint: Mapped[str | None] = mapped_column(String(512))  # a tinker:// path: base model + that adapter
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra_args: Mapped[list[str]] = mapped_column(JSON, default=list)
    gpu_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    port: Mapped[int] = mapped_column(Integer)
    pid: Mapped[int | None] = mapped_column(Integer)
    executor: Mapped[str] = mapped_column(String(16), server_default="local")
    job_id: Mapped[str | None] = mapped_column(String(32))  # its Slurm job
    node: Mapped[str | None] = mapped_column(String(255))  # the Slurm node it runs on
    gpu_count: Mapped[int | None] = mapped_column(Integer)  # GPUs asked for (Slurm places them later)
    status: Mapped[str] = mapped_column(String(16), default="starting")
    health_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_polls: Mapped[int] = mapped_column(Integer, default=0)
    command: Mapped[list[str]] = mapped_column(JSON, default=list)
    log_file: Mapped[str] = mapped_column(String(1024))
    health_path: Mapped[str] = mapped_column(String(255), default="/health")
    base_url: Mapped[str] = mapped_column(String(255))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PortLease(Base):
    """A port held by a deployment; the primary key makes it exclusive."""

    __tablename__ = "port_lease"

    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(16), index=True)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeidPolicy(Base):
    """A de-identification policy: types to find, an operator for each, allow-list and dictionary."""

    __tablename__ = "deid_policy"
    __table_args__ = (Index("ix_deid_policy_owner_id", "owner", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))  # None: the built-in default policy
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    entities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allow_list: Mapped[list[str]] = mapped_column(JSON, default=list)
    dictionary: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    secret: Mapped[str] = mapped_column(String(64))  # hex; keys `hash` and pseudonyms, never sent out
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DeidJob(Base):
    """De-identification of a whole dataset into a new one, with the policy as it was at the start."""

    __tablename__ = "deid_job"
    __table_args__ = (Index("ix_deid_job_owner_id", "owner", "id"), Index("ix_deid_job_status", "status"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[str] = mapped_column(String(36))  # no foreign key: the job outlives its source
    output_dataset_id: Mapped[str] = mapped_column(String(36))
    policy_id: Mapped[str] = mapped_column(String(36))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)  # snapshot: entities, allow_list, dictionary, secret
    seed: Mapped[int | None] = mapped_column(BigInteger)
    store_mapping: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TinkerSession(Base):
    """A Tinker SDK session: the client's heartbeat keeps what it trains alive."""

    __tablename__ = "tinker_session"
    __table_args__ = (Index("ix_tinker_session_owner_id", "owner", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | finished | expired
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    display_name: Mapped[str | None] = mapped_column(String(256))
    sdk_version: Mapped[str | None] = mapped_column(String(64))
    # "sdk": the tinker SDK's session, kept alive by its heartbeat; "eztinker": one run of the
    # plain /v1/runs API, kept alive by its calls for `idle_timeout_s`
    client: Mapped[str] = mapped_column(String(16), default="sdk")
    idle_timeout_s: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    finish_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TinkerModel(Base):
    """A LoRA model a Tinker session trains: an adapter and its optimizer, in its base model's worker."""

    __tablename__ = "tinker_model"
    __table_args__ = (Index("ix_tinker_model_owner_id", "owner", "id"),)

    id: Mapped[str] = mapped_column(
        String(64), primary_key=True
    )  # "{session_id}:train:{n}", as the SDK builds it
    session_id: Mapped[str] = mapped_column(ForeignKey("tinker_session.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(String(64))
    base_model: Mapped[str] = mapped_column(String(255))
    lora_rank: Mapped[int] = mapped_column(Integer)
    lora_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # train_mlp/attn/unembed, seed
    status: Mapped[str] = mapped_column(
        String(16), default="creating"
    )  # creating | ready | failed | released
    last_seq: Mapped[int] = mapped_column(Integer, default=0)  # the last seq_id run; the next runs at +1
    worker_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # create_model's (or create-via-load's) metadata, shown on the training run: tinker-cookbook
    # keeps its renderer's name there and checks it when it resumes from a checkpoint
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TinkerFuture(Base):
    """One request of a Tinker model (or sampler), run by its worker; the SDK polls `retrieve_future`."""

    __tablename__ = "tinker_future"
    __table_args__ = (
        Index("ix_tinker_future_model_id_status_seq_id", "model_id", "status", "seq_id"),
        Index("ix_tinker_future_worker_id_status", "worker_id", "status"),
        Index("ix_tinker_future_owner_status", "owner", "status"),  # an owner's backlog, counted per call
        # one request per step of a model: an SDK retry finds the first, never queues a second
        UniqueConstraint("model_id", "seq_id", name="uq_tinker_future_model_id_seq_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))  # create_model | forward_backward | optim_step | ...
    seq_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the request: protobuf or JSON bytes
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | running | done | failed
    result: Mapped[bytes | None] = mapped_column(LargeBinary)
    result_format: Mapped[str | None] = mapped_column(String(8))  # json | proto
    error: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(16))  # user | server
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TinkerWorker(Base):
    """A process holding one base model (on GPUs from the ledger, or the CPU) for Tinker models."""

    __tablename__ = "tinker_worker"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    base_model: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default="starting")  # starting | ready | stopped | failed
    host: Mapped[str | None] = mapped_column(String(255))  # where it runs: its pid means something only there
    pid: Mapped[int | None] = mapped_column(Integer)
    command: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TinkerSampler(Base):
    """A sampling session: a base model, with a saved adapter or without, in that base model's worker."""

    __tablename__ = "tinker_sampler"
    __table_args__ = (Index("ix_tinker_sampler_owner_id", "owner", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("tinker_session.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(String(64))
    base_model: Mapped[str] = mapped_column(String(255))
    model_path: Mapped[str | None] = mapped_column(String(512))  # tinker://<model>/sampler_weights/<name>
    weights_dir: Mapped[str | None] = mapped_column(
        String(1024)
    )  # the saved adapter on this host; None: base
    worker_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TinkerCheckpoint(Base):
    """Weights a Tinker model saved: `tinker://<model>/(weights|sampler_weights)/<name>`."""

    __tablename__ = "tinker_checkpoint"
    __table_args__ = (
        Index("ix_tinker_checkpoint_owner_id", "owner", "id"),
        UniqueConstraint("model_id", "kind", "name", name="uq_tinker_checkpoint_model_id_kind_name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # weights | sampler_weights
    name: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(1024))  # the directory on this host
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
