"""One SQLAlchemy store shared by every feature: engine, sessions, tables, migrations."""

from src.storage.db import Store
from src.storage.tables import (
    ApiKey,
    Base,
    Dataset,
    DatasetFile,
    Deployment,
    GpuLease,
    PortLease,
    Project,
    ProjectTag,
    Run,
    RunArtifact,
    RunLog,
    RunMetric,
    TrainConfig,
    TuningJob,
)

__all__ = [
    "ApiKey",
    "Base",
    "Dataset",
    "DatasetFile",
    "Deployment",
    "GpuLease",
    "PortLease",
    "Project",
    "ProjectTag",
    "Run",
    "RunArtifact",
    "RunLog",
    "RunMetric",
    "Store",
    "TrainConfig",
    "TuningJob",
]
