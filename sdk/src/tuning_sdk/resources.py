"""Resources: `client.tunings`, `client.files`, `client.models`, `client.projects`, `client.runs`,
`client.datasets`, `client.train_configs`, `client.deid`, `client.deployments`, `client.gpus`.

Every call that is one request (uploads and lists included) is written once, in a `_…Calls`
class, and typed for both clients (see `_resource.py`). Only calls with loops of their own
(waiting, streaming) have a sync and an async form, on `_poll` and `_apoll`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from tuning_sdk._base import raise_for_response
from tuning_sdk._resource import (
    APICall,
    AsyncAPIResource,
    ListCall,
    Resource,
    SyncAPIResource,
    clean,
    endpoint,
    paged,
)
from tuning_sdk._sse import SseParser
from tuning_sdk._uploads import MultipartFile, ProgressCallback
from tuning_sdk.errors import TuningError
from tuning_sdk.types import (
    Artifact,
    Dataset,
    DatasetCreated,
    DatasetUpload,
    DeidJob,
    DeidPolicy,
    DeidTestResult,
    DeletedObject,
    Deployment,
    DeploymentRemoved,
    FileObject,
    Gpu,
    LogPage,
    Message,
    MetricPoint,
    Model,
    PreviewRecord,
    Project,
    Run,
    TrainConfig,
    TuningJob,
)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

__all__ = ["ProgressCallback"]


def _items(model: type[M]) -> Callable[[Any], list[M]]:
    """Reads the `data` of a list answer that has no pages."""
    return lambda body: [model.model_validate(item) for item in body["data"]]


def _content(response: httpx.Response) -> bytes:
    return response.content


def _text(response: httpx.Response) -> str:
    return response.text


# -- the calls, written once ----------------------------------------------------------


class _TuningsCalls(Resource):
    def _job(self, data: Any) -> TuningJob:
        return TuningJob.bound(data, self._client)

    @endpoint
    def create(
        self,
        model: str,
        training_file: str,
        hyperparameters: dict[str, Any] | None = None,
        validation_file: str | None = None,
        suffix: str | None = None,
    ) -> APICall[TuningJob]:
        """Start a job; retried creates carry one Idempotency-Key, so they never make a second job."""
        body = clean(
            {
                "model": model,
                "training_file": training_file,
                "hyperparameters": hyperparameters or {},
                "validation_file": validation_file,
                "suffix": suffix,
            }
        )
        return APICall("POST", "/v1/tunings.create", self._job, {"json": body, "idempotent": True})

    @endpoint
    def get(self, job_id: str) -> APICall[TuningJob]:
        return APICall("GET", f"/v1/tunings.get/{job_id}", self._job)

    @endpoint
    def cancel(self, job_id: str) -> APICall[TuningJob]:
        return APICall("POST", f"/v1/tunings.cancel/{job_id}", self._job)

    @endpoint
    def delete(self, job_id: str) -> APICall[DeletedObject]:
        return APICall("DELETE", f"/v1/tunings.delete/{job_id}", DeletedObject.model_validate)

    @endpoint
    def metrics(self, job_id: str) -> APICall[list[MetricPoint]]:
        """One point per training step."""
        return APICall("GET", f"/v1/tunings.metrics/{job_id}", _items(MetricPoint))

    @paged
    def list(
        self, limit: int = 20, after: str | None = None, status: str | None = None
    ) -> ListCall[TuningJob]:
        """A page of jobs, newest first; looping over it fetches the following pages."""
        return ListCall("/v1/tunings.list", self._job, {"limit": limit, "after": after, "status": status})


class _FilesCalls(Resource):
    @endpoint
    def upload(
        self, path: str | Path, purpose: str = "fine-tune", on_progress: ProgressCallback | None = None
    ) -> APICall[FileObject]:
        """Upload a training file, streamed from disk; `on_progress(bytes_sent, total)` as it goes."""
        upload = MultipartFile(path, on_progress, purpose=purpose)
        return APICall("POST", "/v1/files", FileObject.model_validate, {"upload": upload})

    @endpoint
    def list(self) -> APICall[list[FileObject]]:
        return APICall("GET", "/v1/files", _items(FileObject))

    @endpoint
    def get(self, file_id: str) -> APICall[FileObject]:
        return APICall("GET", f"/v1/files/{file_id}", FileObject.model_validate)

    @endpoint
    def content(self, file_id: str) -> APICall[bytes]:
        return APICall("GET", f"/v1/files/{file_id}/content", _content, {"raw_response": True})

    @endpoint
    def delete(self, file_id: str) -> APICall[DeletedObject]:
        return APICall("DELETE", f"/v1/files/{file_id}", DeletedObject.model_validate)


class _ModelsCalls(Resource):
    @endpoint
    def list(self) -> APICall[list[Model]]:
        """Base models and your fine-tuned ones."""
        return APICall("GET", "/v1/models", _items(Model))

    @endpoint
    def get(self, name: str) -> APICall[Model]:
        return APICall("GET", f"/v1/models/{name}", Model.model_validate)


class _ProjectsCalls(Resource):
    @endpoint
    def create(self, /, name: str, **fields: Any) -> APICall[Project]:
        """`fields`: description, owner, tags, dataset_name, training_yaml_name."""
        return APICall("POST", "/projects", Project.model_validate, {"json": {"name": name, **fields}})

    @endpoint
    def get(self, name: str) -> APICall[Project]:
        return APICall("GET", f"/projects/{name}", Project.model_validate)

    @endpoint
    def update(self, /, name: str, **fields: Any) -> APICall[Project]:
        return APICall("PATCH", f"/projects/{name}", Project.model_validate, {"json": fields})

    @endpoint
    def delete(self, name: str) -> APICall[Message]:
        return APICall("DELETE", f"/projects/{name}", Message.model_validate)

    @paged
    def list(
        self,
        limit: int = 20,
        after: str | None = None,
        *,
        tag: str | None = None,
        owner: str | None = None,
        status: str | None = None,
    ) -> ListCall[Project]:
        """Projects, newest first, filtered by tag, owner or status; `after` is a project's name."""
        params = {"limit": limit, "after": after, "tag": tag, "owner": owner, "status": status}
        return ListCall("/projects", Project.model_validate, params, cursor=lambda project: project.name)


class _RunsCalls(Resource):
    @endpoint
    def create(self, /, project: str, **body: Any) -> APICall[Run]:
        """`body`: dataset, train_config, gpus, env, executor, note."""
        return APICall("POST", f"/projects/{project}/runs", Run.model_validate, {"json": body})

    @endpoint
    def get(self, run_id: str) -> APICall[Run]:
        return APICall("GET", f"/runs/{run_id}", Run.model_validate)

    @endpoint
    def cancel(self, run_id: str) -> APICall[Run]:
        return APICall("POST", f"/runs/{run_id}/cancel", Run.model_validate)

    @endpoint
    def logs(
        self,
        run_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        tail: int | None = None,
        tag: str | None = None,
    ) -> APICall[LogPage]:
        """A page of log lines (`.data`, `.last_seq` to pass as `after`), or the last `tail` lines."""
        params = clean({"after": after, "limit": limit, "tail": tail, "tag": tag})
        return APICall("GET", f"/runs/{run_id}/logs", LogPage.model_validate, {"params": params})

    @endpoint
    def metrics(self, run_id: str) -> APICall[list[MetricPoint]]:
        return APICall("GET", f"/runs/{run_id}/metrics", _items(MetricPoint))

    @endpoint
    def artifacts(self, run_id: str) -> APICall[list[Artifact]]:
        return APICall("GET", f"/runs/{run_id}/artifacts", _items(Artifact))

    @paged
    def list(
        self, project: str, limit: int = 20, after: str | None = None, status: str | None = None
    ) -> ListCall[Run]:
        """A project's runs, newest first, optionally of one status."""
        params = {"limit": limit, "after": after, "status": status}
        return ListCall(f"/projects/{project}/runs", Run.model_validate, params)


class _DatasetsCalls(Resource):
    @endpoint
    def create(self, /, name: str, **fields: Any) -> APICall[DatasetCreated]:
        """`fields`: type, description, task_type, metadata, strict, train_config."""
        return APICall(
            "POST", "/v1/datasets", DatasetCreated.model_validate, {"json": {"name": name, **fields}}
        )

    @endpoint
    def get(self, dataset_id: str) -> APICall[Dataset]:
        return APICall("GET", f"/v1/datasets/{dataset_id}", Dataset.model_validate)

    @endpoint
    def delete(self, dataset_id: str) -> APICall[Message]:
        return APICall("DELETE", f"/v1/datasets/{dataset_id}", Message.model_validate)

    @endpoint
    def preview(self, dataset_id: str, limit: int = 5) -> APICall[list[PreviewRecord]]:
        return APICall(
            "GET", f"/v1/datasets/{dataset_id}/preview", _items(PreviewRecord), {"params": {"limit": limit}}
        )

    @endpoint
    def upload_file(
        self, dataset_id: str, path: str | Path, on_progress: ProgressCallback | None = None
    ) -> APICall[DatasetUpload]:
        """Upload a .jsonl/.json file, streamed from disk; `on_progress(bytes_sent, total)` as it goes."""
        upload = MultipartFile(path, on_progress)
        return APICall(
            "PUT", f"/v1/datasets/{dataset_id}/files", DatasetUpload.model_validate, {"upload": upload}
        )

    @paged
    def list(
        self,
        limit: int = 20,
        after: str | None = None,
        *,
        status: str | None = None,
        name: str | None = None,
    ) -> ListCall[Dataset]:
        """Datasets, newest first, filtered by status or name."""
        params = {"limit": limit, "after": after, "status": status, "name": name}
        return ListCall("/v1/datasets", Dataset.model_validate, params)


class _TrainConfigsCalls(Resource):
    @endpoint
    def create(self, name: str, content: str) -> APICall[TrainConfig]:
        body = {"name": name, "content": content}
        return APICall("POST", "/v1/train-configs", TrainConfig.model_validate, {"json": body})

    @endpoint
    def upload(self, path: str | Path, on_progress: ProgressCallback | None = None) -> APICall[TrainConfig]:
        upload = MultipartFile(path, on_progress)
        return APICall("POST", "/v1/train-configs", TrainConfig.model_validate, {"upload": upload})

    @endpoint
    def get(self, config_id: str) -> APICall[TrainConfig]:
        return APICall("GET", f"/v1/train-configs/{config_id}", TrainConfig.model_validate)

    @endpoint
    def content(self, config_id: str) -> APICall[str]:
        return APICall("GET", f"/v1/train-configs/{config_id}/content", _text, {"raw_response": True})

    @endpoint
    def delete(self, config_id: str) -> APICall[Message]:
        return APICall("DELETE", f"/v1/train-configs/{config_id}", Message.model_validate)

    @paged
    def list(self, limit: int = 20, after: str | None = None) -> ListCall[TrainConfig]:
        return ListCall("/v1/train-configs", TrainConfig.model_validate, {"limit": limit, "after": after})


def _policy_body(
    name: str,
    entities: dict[str, Any],
    allow_list: list[str] | None,
    dictionary: dict[str, list[str]] | None,
    description: str | None,
) -> dict[str, Any]:
    rules = {t: {"operator": rule} if isinstance(rule, str) else rule for t, rule in entities.items()}
    return clean(
        {
            "name": name,
            "entities": rules,
            "allow_list": allow_list,
            "dictionary": dictionary,
            "description": description,
        }
    )


def _mapping(body: Any) -> dict[str, str]:
    return {entry["replacement"]: entry["original"] for entry in body["entries"]}


class _DeidCalls(Resource):
    @endpoint
    def test(
        self,
        texts: list[str],
        policy_id: str = "default",
        *,
        return_mapping: bool = False,
        seed: int | None = None,
    ) -> APICall[DeidTestResult]:
        """De-identify texts: `.results` (text, entities), `.counts`, `.mapping` (admin keys)."""
        options = clean({"return_mapping": return_mapping, "seed": seed})
        body = {"policy_id": policy_id, "text": list(texts), "options": options}
        return APICall("POST", "/v1/deidentify:test", DeidTestResult.model_validate, {"json": body})

    @endpoint
    def list_policies(self) -> APICall[list[DeidPolicy]]:
        return APICall("GET", "/v1/deid/policies", _items(DeidPolicy))

    @endpoint
    def create_policy(
        self,
        name: str,
        entities: dict[str, Any],
        *,
        allow_list: list[str] | None = None,
        dictionary: dict[str, list[str]] | None = None,
        description: str | None = None,
    ) -> APICall[DeidPolicy]:
        """`entities`: type -> operator, as "mask" or {"operator": "mask", "keep_end": 2}."""
        body = _policy_body(name, entities, allow_list, dictionary, description)
        return APICall("POST", "/v1/deid/policies", DeidPolicy.model_validate, {"json": body})

    @endpoint
    def get_policy(self, policy_id: str) -> APICall[DeidPolicy]:
        return APICall("GET", f"/v1/deid/policies/{policy_id}", DeidPolicy.model_validate)

    @endpoint
    def update_policy(
        self,
        policy_id: str,
        name: str,
        entities: dict[str, Any],
        *,
        allow_list: list[str] | None = None,
        dictionary: dict[str, list[str]] | None = None,
        description: str | None = None,
    ) -> APICall[DeidPolicy]:
        body = _policy_body(name, entities, allow_list, dictionary, description)
        return APICall("PUT", f"/v1/deid/policies/{policy_id}", DeidPolicy.model_validate, {"json": body})

    @endpoint
    def delete_policy(self, policy_id: str) -> APICall[Message]:
        return APICall("DELETE", f"/v1/deid/policies/{policy_id}", Message.model_validate)

    @endpoint
    def deidentify_dataset(
        self,
        dataset_id: str,
        policy_id: str = "default",
        *,
        seed: int | None = None,
        store_mapping: bool = False,
        name: str | None = None,
    ) -> APICall[DeidJob]:
        """Start a job writing a de-identified copy of the dataset; returns the job."""
        body = clean({"policy_id": policy_id, "seed": seed, "store_mapping": store_mapping, "name": name})
        return APICall(
            "POST", f"/v1/datasets/{dataset_id}/deidentify", DeidJob.model_validate, {"json": body}
        )

    @endpoint
    def get_job(self, job_id: str) -> APICall[DeidJob]:
        return APICall("GET", f"/v1/deid/jobs/{job_id}", DeidJob.model_validate)

    @endpoint
    def mapping(self, job_id: str) -> APICall[dict[str, str]]:
        """A job's stored mapping as {replacement: original} (admin keys only)."""
        return APICall("GET", f"/v1/deid/mappings/{job_id}", _mapping)


class _DeploymentsCalls(Resource):
    @endpoint
    def create(
        self, /, model_path: str | None = None, run_id: str | None = None, **fields: Any
    ) -> APICall[Deployment]:
        """Serve a model (a directory under the server's model roots, or a fine-tuned model's name)
        or a run's output; `fields`: gpu_count, preferred_gpu, served_model_name, extra_args, tags..."""
        body = clean({"model_path": model_path, "run_id": run_id, **fields})
        return APICall("POST", "/deployments", Deployment.model_validate, {"json": body})

    @endpoint
    def get(self, deployment_id: str) -> APICall[Deployment]:
        return APICall("GET", f"/deployments/{deployment_id}", Deployment.model_validate)

    @endpoint
    def logs(self, deployment_id: str, *, tail: int = 100) -> APICall[list[str]]:
        """The last `tail` lines of the model server's log, as a list of strings."""
        return APICall(
            "GET",
            f"/deployments/{deployment_id}/logs",
            lambda body: list(body["lines"]),
            {"params": {"tail": tail}},
        )

    @endpoint
    def stop(self, deployment_id: str, *, force: bool = False) -> APICall[DeploymentRemoved]:
        """Stop the model server (TERM, then KILL after the server's grace; at once with force)."""
        params = {"force": "true"} if force else {}
        return APICall(
            "DELETE", f"/deployments/{deployment_id}", DeploymentRemoved.model_validate, {"params": params}
        )

    @endpoint
    def restart(self, deployment_id: str) -> APICall[Deployment]:
        """Stop the model server and start a new one with the same model and settings."""
        return APICall("POST", f"/deployments/{deployment_id}/restart", Deployment.model_validate)

    @endpoint
    def list(
        self, *, model: str | None = None, tag: str | None = None, status: str | None = None
    ) -> APICall[list[Deployment]]:
        """Deployments, newest first, filtered by model path, tag or status."""
        params = clean({"model": model, "tag": tag, "status": status})
        return APICall("GET", "/deployments", _items(Deployment), {"params": params})


class _GpusCalls(Resource):
    @endpoint
    def list(self) -> APICall[list[Gpu]]:
        """The server's GPUs and what holds each (a run or a deployment)."""
        return APICall("GET", "/v1/gpus", _items(Gpu))


# -- the loops: one sync and one async form -------------------------------------------

_DEID_JOB_ENDED = ("succeeded", "failed")
# a deployment in these states is on its way to another; `wait` polls past them
_DEPLOYMENT_SETTLING = ("starting", "stopping")


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _poll(
    fetch: Callable[[], R],
    done: Callable[[R], bool],
    late: Callable[[R], str],
    *,
    poll_interval: float,
    timeout: float | None,
    on_each: Callable[[R], None] | None = None,
) -> R:
    """Fetch until `done`; a TuningError saying `late(last)` once `timeout` seconds have passed."""
    deadline = _deadline(timeout)
    while True:
        item = fetch()
        if on_each is not None:
            on_each(item)
        if done(item):
            return item
        if deadline is not None and time.monotonic() > deadline:
            raise TuningError(late(item))
        time.sleep(poll_interval)


async def _apoll(
    fetch: Callable[[], Awaitable[R]],
    done: Callable[[R], bool],
    late: Callable[[R], str],
    *,
    poll_interval: float,
    timeout: float | None,
    on_each: Callable[[R], None] | None = None,
) -> R:
    deadline = _deadline(timeout)
    while True:
        item = await fetch()
        if on_each is not None:
            on_each(item)
        if done(item):
            return item
        if deadline is not None and time.monotonic() > deadline:
            raise TuningError(late(item))
        await asyncio.sleep(poll_interval)


def _on_change(on_progress: Callable[[TuningJob], None] | None) -> Callable[[TuningJob], None] | None:
    """Calls `on_progress(job)` when the job's status or metrics differ from the last call's."""
    if on_progress is None:
        return None
    seen: list[tuple[Any, Any]] = []

    def changed(job: TuningJob) -> None:
        state = (job.raw.get("status"), job.raw.get("metrics"))
        if not seen or seen[-1] != state:
            seen[:] = [state]
            on_progress(job)

    return changed


def _job_late(job_id: str, timeout: float | None) -> Callable[[TuningJob], str]:
    return lambda job: f"job {job_id} did not finish within {timeout} s (status {job.status.value})"


def _deployment_late(deployment_id: str, timeout: float | None) -> Callable[[Deployment], str]:
    return lambda deployment: f"deployment {deployment_id} is still {deployment.status} after {timeout} s"


def _deid_late(job_id: str, timeout: float | None) -> Callable[[DeidJob], str]:
    return lambda _job: f"de-identification job {job_id} did not finish within {timeout} s"


def _log_line(event: str, data: Any) -> str | None:
    """A log line from the run's SSE stream, or None at its `end` event."""
    return None if event == "end" else data["line"]


# -- sync resources -------------------------------------------------------------------


class Tunings(_TuningsCalls, SyncAPIResource):
    def wait(
        self,
        job_id: str,
        on_progress: Callable[[TuningJob], None] | None = None,
        poll_interval: float = 2.0,
        timeout: float | None = None,
    ) -> TuningJob:
        """Poll until the job ends; `on_progress(job)` on every change. Returns the final job."""
        return _poll(
            lambda: self.get(job_id),
            lambda job: job.is_terminal,
            _job_late(job_id, timeout),
            poll_interval=poll_interval,
            timeout=timeout,
            on_each=_on_change(on_progress),
        )

    wait_for_completion = wait

    def stream_logs(self, job_id: str) -> Iterator[str]:
        """The trainer's log lines, live, until the job ends (the server's SSE stream)."""
        run_id = self.get(job_id).run_id
        yield from self._client.runs.stream_logs(run_id)


class Files(_FilesCalls, SyncAPIResource):
    pass


class Models(_ModelsCalls, SyncAPIResource):
    pass


class Projects(_ProjectsCalls, SyncAPIResource):
    pass


class Runs(_RunsCalls, SyncAPIResource):
    def stream_logs(self, run_id: str) -> Iterator[str]:
        """The run's log lines, live, until it ends (the server's SSE stream)."""
        parser = SseParser()
        with self._t.http.stream("GET", f"/runs/{run_id}/logs/stream", timeout=None) as response:
            if response.is_error:
                response.read()
                raise_for_response(response)
            for event, data in parser.feed(response.iter_lines()):
                line = _log_line(event, data)
                if line is None:
                    return
                yield line


class Datasets(_DatasetsCalls, SyncAPIResource):
    pass


class TrainConfigs(_TrainConfigsCalls, SyncAPIResource):
    pass


class Deployments(_DeploymentsCalls, SyncAPIResource):
    def wait(
        self, deployment_id: str, poll_interval: float = 1.0, timeout: float | None = None
    ) -> Deployment:
        """Poll until the model server serves (running) or has ended (failed, stopped); returns it."""
        return _poll(
            lambda: self.get(deployment_id),
            lambda deployment: deployment.status not in _DEPLOYMENT_SETTLING,
            _deployment_late(deployment_id, timeout),
            poll_interval=poll_interval,
            timeout=timeout,
        )


class Deid(_DeidCalls, SyncAPIResource):
    def wait_for_job(self, job_id: str, poll_interval: float = 1.0, timeout: float | None = None) -> DeidJob:
        """Poll a dataset job until it succeeds or fails; returns the final job."""
        return _poll(
            lambda: self.get_job(job_id),
            lambda job: job.status in _DEID_JOB_ENDED,
            _deid_late(job_id, timeout),
            poll_interval=poll_interval,
            timeout=timeout,
        )


class Gpus(_GpusCalls, SyncAPIResource):
    pass


# -- async resources ------------------------------------------------------------------


class AsyncTunings(_TuningsCalls, AsyncAPIResource):
    async def wait(
        self,
        job_id: str,
        on_progress: Callable[[TuningJob], None] | None = None,
        poll_interval: float = 2.0,
        timeout: float | None = None,
    ) -> TuningJob:
        """Poll until the job ends; `on_progress(job)` on every change. Returns the final job."""
        return await _apoll(
            lambda: self.get(job_id),
            lambda job: job.is_terminal,
            _job_late(job_id, timeout),
            poll_interval=poll_interval,
            timeout=timeout,
            on_each=_on_change(on_progress),
        )

    wait_for_completion = wait

    async def stream_logs(self, job_id: str) -> AsyncIterator[str]:
        job = await self.get(job_id)
        async for line in self._client.runs.stream_logs(job.run_id):
            yield line


class AsyncFiles(_FilesCalls, AsyncAPIResource):
    pass


class AsyncModels(_ModelsCalls, AsyncAPIResource):
    pass


class AsyncProjects(_ProjectsCalls, AsyncAPIResource):
    pass


class AsyncRuns(_RunsCalls, AsyncAPIResource):
    async def stream_logs(self, run_id: str) -> AsyncIterator[str]:
        parser = SseParser()
        async with self._t.http.stream("GET", f"/runs/{run_id}/logs/stream", timeout=None) as response:
            if response.is_error:
                await response.aread()
                raise_for_response(response)
            async for text in response.aiter_lines():
                for event, data in parser.feed([text]):
                    line = _log_line(event, data)
                    if line is None:
                        return
                    yield line


class AsyncDatasets(_DatasetsCalls, AsyncAPIResource):
    pass


class AsyncTrainConfigs(_TrainConfigsCalls, AsyncAPIResource):
    pass


class AsyncDeid(_DeidCalls, AsyncAPIResource):
    async def wait_for_job(
        self, job_id: str, poll_interval: float = 1.0, timeout: float | None = None
    ) -> DeidJob:
        return await _apoll(
            lambda: self.get_job(job_id),
            lambda job: job.status in _DEID_JOB_ENDED,
            _deid_late(job_id, timeout),
            poll_interval=poll_interval,
            timeout=timeout,
        )


class AsyncDeployments(_DeploymentsCalls, AsyncAPIResource):
    async def wait(
        self, deployment_id: str, poll_interval: float = 1.0, timeout: float | None = None
    ) -> Deployment:
        return await _apoll(
            lambda: self.get(deployment_id),
            lambda deployment: deployment.status not in _DEPLOYMENT_SETTLING,
            _deployment_late(deployment_id, timeout),
            poll_interval=poll_interval,
            timeout=timeout,
        )


class AsyncGpus(_GpusCalls, AsyncAPIResource):
    pass
