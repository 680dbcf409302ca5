"""TuningClient and AsyncTuningClient: one transport, resources as attributes."""

from __future__ import annotations

import httpx

from tuning_sdk import resources
from tuning_sdk._base import AsyncTransport, SyncTransport, _Settings
from tuning_sdk.types import HealthReport


class TuningClient:
    """A client of one server; api_key and base_url default to TUNING_API_KEY and TUNING_BASE_URL."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._transport = SyncTransport(_Settings(api_key, base_url, timeout, max_retries), http_client)
        self.tunings = resources.Tunings(self)
        self.files = resources.Files(self)
        self.models = resources.Models(self)
        self.projects = resources.Projects(self)
        self.runs = resources.Runs(self)
        self.datasets = resources.Datasets(self)
        self.train_configs = resources.TrainConfigs(self)
        self.deid = resources.Deid(self)
        self.deployments = resources.Deployments(self)
        self.gpus = resources.Gpus(self)

    @property
    def base_url(self) -> str:
        return self._transport.settings.base_url

    def health_check(self) -> HealthReport:
        """The server's /health answer (`.status`, or `["status"]`)."""
        return self._transport.request("GET", "/health", cast=HealthReport.model_validate)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> TuningClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncTuningClient:
    """The same surface, with `await`."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._transport = AsyncTransport(_Settings(api_key, base_url, timeout, max_retries), http_client)
        self.tunings = resources.AsyncTunings(self)
        self.files = resources.AsyncFiles(self)
        self.models = resources.AsyncModels(self)
        self.projects = resources.AsyncProjects(self)
        self.runs = resources.AsyncRuns(self)
        self.datasets = resources.AsyncDatasets(self)
        self.train_configs = resources.AsyncTrainConfigs(self)
        self.deid = resources.AsyncDeid(self)
        self.deployments = resources.AsyncDeployments(self)
        self.gpus = resources.AsyncGpus(self)

    async def health_check(self) -> HealthReport:
        return await self._transport.request("GET", "/health", cast=HealthReport.model_validate)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncTuningClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
