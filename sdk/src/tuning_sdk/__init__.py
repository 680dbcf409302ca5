"""Tuning Service SDK: `TuningClient`, `AsyncTuningClient`, typed errors, and the `tuning` CLI."""

from tuning_sdk.client import AsyncTuningClient, TuningClient
from tuning_sdk.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TuningError,
)
from tuning_sdk.types import JobMetrics, JobStatus, Record, TuningJob

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncTuningClient",
    "AuthenticationError",
    "ConflictError",
    "InternalServerError",
    "InvalidRequestError",
    "JobMetrics",
    "JobStatus",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Record",
    "TuningClient",
    "TuningError",
    "TuningJob",
    "__version__",
]
