"""Settings: one `Settings` object with a nested section per concern.

Every section reads flat `TUNING_*` environment variables (and `.env`), so the
names in the issues and README stay exactly as documented while the code reads
`settings.server.port`, `settings.auth.mode` and so on.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from src.utils.child_env import DEFAULT_ENV_ALLOWLIST, forbidden_names
from src.utils.trainer import BUNDLED_TRAINER_COMMAND


def _section_config() -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix="TUNING_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )


class BootstrapKey(BaseModel):
    """An API key given in settings, created in the store on start."""

    key: str = Field(min_length=8)
    owner: str = "dev"
    role: Literal["admin", "user"] = "admin"


class ServerSettings(BaseSettings):
    model_config = _section_config()

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    worker_threads: int = Field(default=40, ge=1, description="threads serving sync handlers")
    read_threads: int | None = Field(
        default=None,
        ge=1,
        description="reads (app.deps.Reader) served at once; unset: 2 on SQLite, 4 on PostgreSQL",
    )
    shutdown_timeout: float = Field(default=30.0, ge=0, description="seconds to finish requests on SIGTERM")
    log_level: str = "INFO"
    log_file: Path | None = None

    @property
    def is_loopback(self) -> bool:
        """True when the server listens only on this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class StoreSettings(BaseSettings):
    model_config = _section_config()

    database_url: str = Field(
        default="sqlite:///./training.db",
        validation_alias=AliasChoices("TUNING_DATABASE_URL", "TRAINING_DB_URL", "database_url"),
    )
    data_dir: Path = Path("./data")
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)


class UploadSettings(BaseSettings):
    model_config = _section_config()

    max_upload_bytes: int = Field(default=10 * 1024**3, ge=1, description="largest dataset file accepted")
    inline_validation_bytes: int = Field(
        default=8 * 1024**2, ge=0, description="files up to this size are validated before the upload answers"
    )
    max_yaml_bytes: int = Field(default=1024**2, ge=1, description="largest training YAML accepted")
    max_body_bytes: int = Field(
        default=8 * 1024**2,
        ge=1,
        description="largest request body (JSON or form) other than a dataset file upload",
    )


class TrainingSettings(BaseSettings):
    """Where and how training runs execute."""

    model_config = _section_config()

    training_dir: Path = Field(
        default=Path("./training"), description="the host directory shared with the container"
    )
    training_container_dir: str = Field(
        default="/workspace/training", description="the same directory in the container"
    )
    training_container: str = "qwen2.5-14b-instruct_xpytorch_full_sft"
    training_workdir: str | None = Field(
        default=None,
        description="relative to the training dir; unset: `.` for local runs, "
        "`KTIP_Release_2.1.0/train/llm` in the container",
    )
    training_command: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="argv template: {training_yaml} {dataset} {output_dir} {run_id} {workspace} {python} "
        "{recipes}; unset: the bundled trainer for local runs, `bash run_train_full_sft.sh` in the container",
    )
    executor: Literal["local", "docker", "slurm"] = "local"
    max_concurrent_runs: int = Field(default=10, ge=1)
    gpus: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="GPU ids when NVML is absent"
    )
    run_gpus: int | None = Field(default=None, ge=0, description="default GPUs per run (1 with GPUs, else 0)")
    scheduler: bool = Field(default=True, description="run the scheduler and monitor inside the service")
    monitor_interval: float = Field(default=0.5, gt=0)
    queue_poll_interval: float = Field(
        default=0.05,
        gt=0,
        description="SQLite: seconds between looks for runs queued or cancelled by another process "
        "(PostgreSQL notifies at once)",
    )
    stall_timeout: float = Field(
        default=1800.0, gt=0, description="seconds without output before a run is stalled"
    )
    cancel_grace: float = Field(default=10.0, ge=0, description="seconds between TERM and KILL")
    run_as_user: str | None = Field(
        default="tuning",
        description="when the service runs as root, training commands and model servers run as this "
        "user (empty: as root)",
    )
    docker_user: str | None = Field(default=None, description="`docker exec --user` for the docker executor")
    secrets_key: str | None = Field(
        default=None,
        description="seals credential values of run env at rest; unset = a key generated once in "
        "the data directory (secrets.key)",
    )
    env_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ENV_ALLOWLIST),
        description="environment names a user may pass to runs and tuning jobs (JSON list or CSV)",
    )

    @field_validator("env_allowlist", mode="before")
    @classmethod
    def _parse_env_allowlist(cls, value: Any) -> Any:
        names = [str(v).strip() for v in _json_or_csv_list(value) if str(v).strip()]
        refused = forbidden_names(names)
        if refused:
            raise ValueError(
                f"TUNING_ENV_ALLOWLIST may not name {', '.join(refused)}: loader, shell, interpreter, "
                "path and service variables never reach a child process"
            )
        return names

    @field_validator("training_command", mode="before")
    @classmethod
    def _parse_command(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValueError("TUNING_TRAINING_COMMAND must be a JSON list of strings")
        return value

    @field_validator("gpus", mode="before")
    @classmethod
    def _parse_gpus(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else value.split(",")
        return [str(v).strip() for v in value if str(v).strip()]


def _json_or_csv_list(value: Any) -> Any:
    if isinstance(value, str):
        value = (
            json.loads(value) if value.strip().startswith("[") else [v for v in value.split(",") if v.strip()]
        )
    return value


class ModelSettings(BaseSettings):
    """Where base models live; nothing is ever downloaded."""

    model_config = _section_config()

    model_catalog: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict, description="JSON object: model name -> local directory"
    )
    model_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="JSON list of directories holding model directories"
    )
    demo_model: bool = Field(
        default=True,
        description="build the tiny demo base model `tuning/tiny-demo` in the data directory on first start",
    )

    @field_validator("model_catalog", mode="before")
    @classmethod
    def _parse_catalog(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) and value.strip() else (value or {})

    @field_validator("model_roots", mode="before")
    @classmethod
    def _parse_roots(cls, value: Any) -> Any:
        return _json_or_csv_list(value)


class TuningSettings(BaseSettings):
    """How tuning jobs train: the bundled trainer by default."""

    model_config = _section_config()

    tuning_command: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(BUNDLED_TRAINER_COMMAND),
        description="argv template for tuning jobs; also {python} and {recipes}",
    )
    tuning_executor: Literal["local", "docker", "slurm"] = "local"

    @field_validator("tuning_command", mode="before")
    @classmethod
    def _parse_command(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class TinkerSettings(BaseSettings):
    """Interactive training (the tinker SDK's `/api/v1/` and the plain `/v1/runs` API)."""

    model_config = _section_config()

    tinker_run_idle_seconds: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="a /v1/runs run no call has touched for this long is ended and its adapter let go "
        "(the tinker SDK's sessions end 120 s after their heartbeat stops instead)",
    )
    tinker_checkpoints_dir: Path | None = Field(
        default=None, description="where saved adapters go; unset: TUNING_DATA_DIR/tinker/weights"
    )
    tinker_worker_idle_seconds: float = Field(
        default=60, ge=1, description="a worker process holding no model or sampler for this long leaves"
    )


class RateLimitSettings(BaseSettings):
    """Per-key request limits by route group (`limits` syntax, e.g. `60/minute`)."""

    model_config = _section_config()

    rate_limit_storage: str = Field(default="memory://", description="memory:// or redis://host:port")
    rate_limit_prefix: str = Field(default="tuning", description="key prefix in a shared Redis")
    rate_limits: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"tunings": "120/minute", "files": "60/minute"},
        description="JSON object: route group -> limit",
    )

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _parse_limits(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) and value.strip() else (value or {})


class SlurmSettings(BaseSettings):
    """Where runs and model servers go when their executor is `slurm` (the client tools find the
    cluster through /etc/slurm/slurm.conf or SLURM_CONF)."""

    model_config = _section_config()

    slurm_partition: str | None = Field(default=None, description="sbatch --partition; unset: the default")
    slurm_account: str | None = Field(default=None, description="sbatch --account")
    slurm_time_limit: str | None = Field(
        default=None, pattern=r"^[0-9:-]{1,16}$", description="sbatch --time for runs (e.g. 24:00:00)"
    )
    slurm_max_nodes: int = Field(default=8, ge=1, le=1024, description="most nodes one run may ask for")


class DeploymentSettings(BaseSettings):
    """Model servers: the command, the port range, health checks."""

    model_config = _section_config()

    deploy_command: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "vllm",
            "serve",
            "{model}",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "--served-model-name",
            "{served_model_name}",
            # the service polls the health path every few seconds; keep those lines out of the log
            "--disable-access-log-for-endpoints",
            "{health_path}",
        ],
        description="argv template: {model} {host} {port} {served_model_name} {health_path}",
    )
    deploy_ports: str = Field(default="20000-20999", pattern=r"^\d+-\d+$")
    deploy_host: str = "127.0.0.1"
    deploy_executor: Literal["local", "slurm"] = Field(
        default="local", description="local: model servers on this host's GPUs; slurm: a job per server"
    )
    deploy_health_interval: float = Field(default=2.0, gt=0)
    deploy_unhealthy_after: int = Field(default=3, ge=1, description="failed polls before `unhealthy`")
    deploy_stop_grace: float = Field(default=10.0, ge=0)
    deploy_start_timeout: float = Field(default=900.0, gt=0)
    deploy_trust_remote_code: bool = Field(
        default=False, description="let extra_args pass --trust-remote-code (runs the model's own Python)"
    )
    deploy_upstream_secret: str | None = Field(
        default=None,
        description="secret each model server's API key is derived from; unset = a key generated once "
        "in the data directory (deploy-upstream.key)",
    )

    @field_validator("deploy_command", mode="before")
    @classmethod
    def _parse_command(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @property
    def port_range(self) -> range:
        low, high = (int(part) for part in self.deploy_ports.split("-"))
        return range(low, high + 1)


class DeidSettings(BaseSettings):
    """De-identification: limits of the test call and the key that seals stored mappings."""

    model_config = _section_config()

    deid_mapping_key: str | None = Field(
        default=None,
        min_length=16,
        description="secret the stored mappings are encrypted with; unset = a key generated once "
        "in TUNING_DATA_DIR/deid-mapping.key (0600)",
    )
    deid_max_request_chars: int = Field(
        default=5_000_000, ge=1, description="most characters of text one /v1/deidentify:test call takes"
    )
    deid_max_texts: int = Field(default=10_000, ge=1, description="most texts in one test call")


class AuthSettings(BaseSettings):
    model_config = _section_config()

    mode: Literal["api_key", "off"] = Field(
        default="api_key", validation_alias=AliasChoices("TUNING_AUTH", "mode")
    )
    api_keys: Annotated[list[BootstrapKey], NoDecode] = Field(default_factory=list)
    allow_insecure: bool = False
    key_cache_seconds: float = Field(
        default=5,
        ge=0,
        le=60,
        description="how long a verified API key is trusted without a query; another process "
        "sharing the database refuses a revoked key within this time (0: query every request)",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: Any) -> Any:
        """Accept a JSON list of keys or of {key, owner, role} objects."""
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else []
        if isinstance(value, list):
            return [{"key": item} if isinstance(item, str) else item for item in value]
        return value


class Settings(BaseModel):
    """All sections; each one reads its own `TUNING_*` variables when built."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    tuning: TuningSettings = Field(default_factory=TuningSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    deployments: DeploymentSettings = Field(default_factory=DeploymentSettings)
    slurm: SlurmSettings = Field(default_factory=SlurmSettings)
    deid: DeidSettings = Field(default_factory=DeidSettings)
    tinker: TinkerSettings = Field(default_factory=TinkerSettings)

    @property
    def session_gate(self) -> int:
        """Requests that may hold a store session at once: a quarter of the handler threads."""
        return max(1, self.server.worker_threads // 4)

    @property
    def read_threads(self) -> int:
        """Reads served at once (`app.deps.Reader`), as set, else by database.

        SQLite reads are CPU only, and past two threads they only contend for the GIL;
        PostgreSQL reads also wait on the network, so four keep the CPU busy
        (bench/api_throughput.py on two cores).
        """
        if self.server.read_threads is not None:
            return self.server.read_threads
        return 2 if self.store.database_url.startswith("sqlite") else 4

    @property
    def pool_size(self) -> int:
        """Connections for each handler thread, the gated request sessions, the reads and background loops."""
        return self.server.worker_threads + self.session_gate + self.read_threads + 4


class InsecureBindError(RuntimeError):
    """Raised when auth is off and the server would listen beyond loopback."""


def check_bind_is_safe(settings: Settings) -> None:
    """Refuse to serve without auth on a non-loopback address unless allowed."""
    if settings.auth.mode == "off" and not settings.server.is_loopback and not settings.auth.allow_insecure:
        raise InsecureBindError(
            f"TUNING_AUTH=off while listening on {settings.server.host}: anyone on the network could "
            "use this server. Listen on 127.0.0.1, turn auth on, or set TUNING_ALLOW_INSECURE=1."
        )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and `.env`."""
    return Settings()
