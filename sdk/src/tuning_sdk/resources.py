"""Resources: `client.tunings`, `client.files`, `client.models`, `client.projects`, `client.runs`,
`client.datasets`, `client.train_configs`, `client.deid`, `client.deployments`.

Simple calls are written once: they return whatever the transport returns, a value
for the sync client and an awaitable for the async one. Calls with loops of their
own (paging, waiting, streaming, uploads with progress) have a sync and an async form.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tuning_sdk._paging import AsyncPage, SyncPage, record_id
from tuning_sdk._sse import SseParser
from tuning_sdk.errors import TuningError
from tuning_sdk.types import Record, TuningJob

ProgressCallback = Callable[[int, int], None]


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class _Resource:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._t = client._transport


# -- the simple calls, shared ---------------------------------------------------------


class _TuningsCalls(_Resource):
    def _job(self, data: dict[str, Any]) -> TuningJob:
        return TuningJob(data, client=self._client)

    def create(
        self,
        model: str,
        training_file: str,
        hyperparameters: dict[str, Any] | None = None,
        validation_file: str | None = None,
        suffix: str | None = None,
    ) -> Any:
        """Start a job; retried creates carry one Idempotency-Key, so they never make a second job."""
        body = _clean(
            {
                "model": model,
                "training_file": training_file,
                "hyperparameters": hyperparameters or {},
                "validation_file": validation_file,
                "suffix": suffix,
            }
        )
        return self._t.request("POST", "/v1/tunings.create", json=body, cast=self._job, idempotent=True)

    def get(self, job_id: str) -> Any:
        return self._t.request("GET", f"/v1/tunings.get/{job_id}", cast=self._job)

    def cancel(self, job_id: str) -> Any:
        return self._t.request("POST", f"/v1/tunings.cancel/{job_id}", cast=self._job)

    def delete(self, job_id: str) -> Any:
        return self._t.request("DELETE", f"/v1/tunings.delete/{job_id}", cast=Record)

    def metrics(self, job_id: str) -> Any:
        return self._t.request("GET", f"/v1/tunings.metrics/{job_id}", cast=lambda d: d["data"])

    def _page(self, limit: int, after: str | None, status: str | None) -> Any:
        params = _clean({"limit": limit, "after": after, "status": status})
        return self._t.request("GET", "/v1/tunings.list", params=params)


class _FilesCalls(_Resource):
    def list(self) -> Any:
        return self._t.request("GET", "/v1/files", cast=lambda d: [Record(f) for f in d["data"]])

    def get(self, file_id: str) -> Any:
        return self._t.request("GET", f"/v1/files/{file_id}", cast=Record)

    def delete(self, file_id: str) -> Any:
        return self._t.request("DELETE", f"/v1/files/{file_id}", cast=Record)


class _ModelsCalls(_Resource):
    def list(self) -> Any:
        return self._t.request("GET", "/v1/models", cast=lambda d: [Record(m) for m in d["data"]])

    def get(self, name: str) -> Any:
        return self._t.request("GET", f"/v1/models/{name}", cast=Record)


class _ProjectsCalls(_Resource):
    def create(self, name: str, **fields: Any) -> Any:
        return self._t.request("POST", "/projects", json={"name": name, **fields}, cast=Record)

    def get(self, name: str) -> Any:
        return self._t.request("GET", f"/projects/{name}", cast=Record)

    def update(self, name: str, **fields: Any) -> Any:
        return self._t.request("PATCH", f"/projects/{name}", json=fields, cast=Record)

    def delete(self, name: str) -> Any:
        return self._t.request("DELETE", f"/projects/{name}", cast=Record)


class _RunsCalls(_Resource):
    def create(self, project: str, **body: Any) -> Any:
        return self._t.request("POST", f"/projects/{project}/runs", json=body, cast=Record)

    def get(self, run_id: str) -> Any:
        return self._t.request("GET", f"/runs/{run_id}", cast=Record)

    def cancel(self, run_id: str) -> Any:
        return self._t.request("POST", f"/runs/{run_id}/cancel", cast=Record)

    def logs(
        self,
        run_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        tail: int | None = None,
        tag: str | None = None,
    ) -> Any:
        params = _clean({"after": after, "limit": limit, "tail": tail, "tag": tag})
        return self._t.request("GET", f"/runs/{run_id}/logs", params=params)

    def metrics(self, run_id: str) -> Any:
        return self._t.request("GET", f"/runs/{run_id}/metrics", cast=lambda d: d["data"])

    def artifacts(self, run_id: str) -> Any:
        return self._t.request(
            "GET", f"/runs/{run_id}/artifacts", cast=lambda d: [Record(a) for a in d["data"]]
        )


class _DatasetsCalls(_Resource):
    def create(self, name: str, **fields: Any) -> Any:
        return self._t.request("POST", "/v1/datasets", json={"name": name, **fields}, cast=Record)

    def get(self, dataset_id: str) -> Any:
        return self._t.request("GET", f"/v1/datasets/{dataset_id}", cast=Record)

    def delete(self, dataset_id: str) -> Any:
        return self._t.request("DELETE", f"/v1/datasets/{dataset_id}", cast=Record)

    def preview(self, dataset_id: str, limit: int = 5) -> Any:
        return self._t.request(
            "GET", f"/v1/datasets/{dataset_id}/preview", params={"limit": limit}, cast=lambda d: d["data"]
        )


class _TrainConfigsCalls(_Resource):
    def create(self, name: str, content: str) -> Any:
        return self._t.request(
            "POST", "/v1/train-configs", json={"name": name, "content": content}, cast=Record
        )

    def get(self, config_id: str) -> Any:
        return self._t.request("GET", f"/v1/train-configs/{config_id}", cast=Record)

    def delete(self, config_id: str) -> Any:
        return self._t.request("DELETE", f"/v1/train-configs/{config_id}", cast=Record)


class _DeidCalls(_Resource):
    def test(
        self,
        texts: list[str],
        policy_id: str = "default",
        *,
        return_mapping: bool = False,
        seed: int | None = None,
    ) -> Any:
        """De-identify texts: `.results` (text, entities), `.counts`, `.mapping` (admin keys)."""
        options = _clean({"return_mapping": return_mapping, "seed": seed})
        body = {"policy_id": policy_id, "text": list(texts), "options": options}
        return self._t.request("POST", "/v1/deidentify:test", json=body, cast=Record)

    def list_policies(self) -> Any:
        return self._t.request("GET", "/v1/deid/policies", cast=lambda d: [Record(p) for p in d["data"]])

    def create_policy(
        self,
        name: str,
        entities: dict[str, Any],
        *,
        allow_list: list[str] | None = None,
        dictionary: dict[str, list[str]] | None = None,
        description: str | None = None,
    ) -> Any:
        """`entities`: type -> operator, as "mask" or {"operator": "mask", "keep_end": 2}."""
        body = _policy_body(name, entities, allow_list, dictionary, description)
        return self._t.request("POST", "/v1/deid/policies", json=body, cast=Record)

    def get_policy(self, policy_id: str) -> Any:
        return self._t.request("GET", f"/v1/deid/policies/{policy_id}", cast=Record)

    def update_policy(
        self,
        policy_id: str,
        name: str,
        entities: dict[str, Any],
        *,
        allow_list: list[str] | None = None,
        dictionary: dict[str, list[str]] | None = None,
        description: str | None = None,
    ) -> Any:
        body = _policy_body(name, entities, allow_list, dictionary, description)
        return self._t.request("PUT", f"/v1/deid/policies/{policy_id}", json=body, cast=Record)

    def delete_policy(self, policy_id: str) -> Any:
        return self._t.request("DELETE", f"/v1/deid/policies/{policy_id}", cast=Record)

    def deidentify_dataset(
        self,
        dataset_id: str,
        policy_id: str = "default",
        *,
        seed: int | None = None,
        store_mapping: bool = False,
        name: str | None = None,
    ) -> Any:
        """Start a job writing a de-identified copy of the dataset; returns the job."""
        body = _clean({"policy_id": policy_id, "seed": seed, "store_mapping": store_mapping, "name": name})
        return self._t.request("POST", f"/v1/datasets/{dataset_id}/deidentify", json=body, cast=Record)

    def get_job(self, job_id: str) -> Any:
        return self._t.request("GET", f"/v1/deid/jobs/{job_id}", cast=Record)

    def mapping(self, job_id: str) -> Any:
        """A job's stored mapping as {replacement: original} (admin keys only)."""
        return self._t.request(
            "GET",
            f"/v1/deid/mappings/{job_id}",
            cast=lambda d: {e["replacement"]: e["original"] for e in d["entries"]},
        )


class _DeploymentsCalls(_Resource):
    def create(self, model_path: str | None = None, run_id: str | None = None, **fields: Any) -> Any:
        """Serve a model (a directory under the server's model roots, or a fine-tuned model's name)
        or a run's output; `fields`: gpu_count, preferred_gpu, served_model_name, extra_args, tags..."""
        body = _clean({"model_path": model_path, "run_id": run_id, **fields})
        return self._t.request("POST", "/deployments", json=body, cast=Record)

    def list(self, *, model: str | None = None, tag: str | None = None, status: str | None = None) -> Any:
        """Deployments, newest first, filtered by model path, tag or status."""
        params = _clean({"model": model, "tag": tag, "status": status})
        return self._t.request(
            "GET", "/deployments", params=params, cast=lambda d: [Record(x) for x in d["data"]]
        )

    def get(self, deployment_id: str) -> Any:
        return self._t.request("GET", f"/deployments/{deployment_id}", cast=Record)

    def logs(self, deployment_id: str, *, tail: int = 100) -> Any:
        """The last `tail` lines of the model server's log, as a list of strings."""
        return self._t.request(
            "GET", f"/deployments/{deployment_id}/logs", params={"tail": tail}, cast=lambda d: d["lines"]
        )

    def stop(self, deployment_id: str, *, force: bool = False) -> Any:
        """Stop the model server (TERM, then KILL after the server's grace; at once with force)."""
        params = {"force": "true"} if force else {}
        return self._t.request("DELETE", f"/deployments/{deployment_id}", params=params, cast=Record)

    def restart(self, deployment_id: str) -> Any:
        """Stop the model server and start a new one with the same model and settings."""
        return self._t.request("POST", f"/deployments/{deployment_id}/restart", cast=Record)


def _policy_body(
    name: str,
    entities: dict[str, Any],
    allow_list: list[str] | None,
    dictionary: dict[str, list[str]] | None,
    description: str | None,
) -> dict[str, Any]:
    rules = {t: {"operator": rule} if isinstance(rule, str) else rule for t, rule in entities.items()}
    return _clean(
        {
            "name": name,
            "entities": rules,
            "allow_list": allow_list,
            "dictionary": dictionary,
            "description": description,
        }
    )


_DEID_JOB_ENDED = ("succeeded", "failed")
# a deployment in these states is on its way to another; `wait` polls past them
_DEPLOYMENT_SETTLING = ("starting", "stopping")


class _ProgressReader:
    """A file wrapper that reports bytes read, so an upload can show its progress."""

    def __init__(self, handle: BinaryIO, total: int, on_progress: ProgressCallback | None) -> None:
        self._handle, self._total, self._on_progress, self._sent = handle, total, on_progress, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._sent += len(chunk)
        if self._on_progress is not None and chunk:
            self._on_progress(self._sent, self._total)
        return chunk


def _multipart(path: Path, on_progress: ProgressCallback | None, **fields: str) -> dict[str, Any]:
    handle = path.open("rb")
    reader = _ProgressReader(handle, path.stat().st_size, on_progress)
    return {
        "files": {"file": (path.name, reader, "application/octet-stream")},
        "data": fields,
        "_handle": handle,
    }


def _changed(previous: TuningJob | None, job: TuningJob) -> bool:
    if previous is None:
        return True
    watch = ("status", "metrics")
    return any(previous.raw.get(k) != job.raw.get(k) for k in watch)


# -- sync resources -------------------------------------------------------------------


class Tunings(_TuningsCalls):
    def list(
        self, limit: int = 20, after: str | None = None, status: str | None = None
    ) -> SyncPage[TuningJob]:
        """A page of jobs, newest first; looping over it fetches the following pages."""
        data = self._page(limit, after, status)
        return SyncPage(
            [self._job(j) for j in data["data"]],
            data["has_more"],
            lambda cursor: self.list(limit=limit, after=cursor, status=status),
            record_id,
        )

    def wait(
        self,
        job_id: str,
        on_progress: Callable[[TuningJob], None] | None = None,
        poll_interval: float = 2.0,
        timeout: float | None = None,
    ) -> TuningJob:
        """Poll until the job ends; `on_progress(job)` on every change. Returns the final job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        previous: TuningJob | None = None
        while True:
            job = self.get(job_id)
            if on_progress is not None and _changed(previous, job):
                on_progress(job)
            previous = job
            if job.is_terminal:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TuningError(
                    f"job {job_id} did not finish within {timeout} s (status {job.status.value})"
                )
            time.sleep(poll_interval)

    wait_for_completion = wait

    def stream_logs(self, job_id: str) -> Iterator[str]:
        """The trainer's log lines, live, until the job ends (the server's SSE stream)."""
        run_id = self.get(job_id).run_id
        yield from self._client.runs.stream_logs(run_id)


class Files(_FilesCalls):
    def upload(
        self, path: str | Path, purpose: str = "fine-tune", on_progress: ProgressCallback | None = None
    ) -> Record:
        parts = _multipart(Path(path), on_progress, purpose=purpose)
        with parts.pop("_handle"):
            return self._t.request("POST", "/v1/files", cast=Record, **parts)

    def content(self, file_id: str) -> bytes:
        return self._t.raw("GET", f"/v1/files/{file_id}/content").content


class Models(_ModelsCalls):
    pass


class Projects(_ProjectsCalls):
    def list(self, limit: int = 20, after: str | None = None, **filters: Any) -> SyncPage[Record]:
        data = self._t.request("GET", "/projects", params=_clean({"limit": limit, "after": after, **filters}))
        return SyncPage(
            [Record(p) for p in data["data"]],
            data["has_more"],
            lambda cursor: self.list(limit=limit, after=cursor, **filters),
            lambda p: p.raw["name"],
        )


class Runs(_RunsCalls):
    def list(
        self, project: str, limit: int = 20, after: str | None = None, status: str | None = None
    ) -> SyncPage[Record]:
        params = _clean({"limit": limit, "after": after, "status": status})
        data = self._t.request("GET", f"/projects/{project}/runs", params=params)
        return SyncPage(
            [Record(r) for r in data["data"]],
            data["has_more"],
            lambda cursor: self.list(project, limit=limit, after=cursor, status=status),
            record_id,
        )

    def stream_logs(self, run_id: str) -> Iterator[str]:
        parser = SseParser()
        with self._t.http.stream("GET", f"/runs/{run_id}/logs/stream", timeout=None) as response:
            if response.is_error:
                response.read()
                from tuning_sdk._base import raise_for_response

                raise_for_response(response)
            for event, data in parser.feed(response.iter_lines()):
                if event == "end":
                    return
                yield data["line"]


class Datasets(_DatasetsCalls):
    def list(self, limit: int = 20, after: str | None = None, **filters: Any) -> SyncPage[Record]:
        data = self._t.request(
            "GET", "/v1/datasets", params=_clean({"limit": limit, "after": after, **filters})
        )
        return SyncPage(
            [Record(d) for d in data["data"]],
            data["has_more"],
            lambda cursor: self.list(limit=limit, after=cursor, **filters),
            record_id,
        )

    def upload_file(
        self, dataset_id: str, path: str | Path, on_progress: ProgressCallback | None = None
    ) -> Record:
        """Upload a .jsonl/.json file; `on_progress(bytes_sent, total)` as it goes."""
        parts = _multipart(Path(path), on_progress)
        with parts.pop("_handle"):
            return self._t.request("PUT", f"/v1/datasets/{dataset_id}/files", cast=Record, **parts)


class TrainConfigs(_TrainConfigsCalls):
    def upload(self, path: str | Path) -> Record:
        parts = _multipart(Path(path), None)
        with parts.pop("_handle"):
            return self._t.request("POST", "/v1/train-configs", cast=Record, **parts)

    def list(self, limit: int = 20, after: str | None = None) -> SyncPage[Record]:
        data = self._t.request("GET", "/v1/train-configs", params=_clean({"limit": limit, "after": after}))
        return SyncPage(
            [Record(c) for c in data["data"]],
            data["has_more"],
            lambda cursor: self.list(limit=limit, after=cursor),
            record_id,
        )

    def content(self, config_id: str) -> str:
        return self._t.raw("GET", f"/v1/train-configs/{config_id}/content").text


class Deployments(_DeploymentsCalls):
    def wait(self, deployment_id: str, poll_interval: float = 1.0, timeout: float | None = None) -> Record:
        """Poll until the model server serves (running) or has ended (failed, stopped); returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            deployment = self.get(deployment_id)
            if deployment.status not in _DEPLOYMENT_SETTLING:
                return deployment
            if deadline is not None and time.monotonic() > deadline:
                raise TuningError(
                    f"deployment {deployment_id} is still {deployment.status} after {timeout} s"
                )
            time.sleep(poll_interval)


class Deid(_DeidCalls):
    def wait_for_job(self, job_id: str, poll_interval: float = 1.0, timeout: float | None = None) -> Record:
        """Poll a dataset job until it succeeds or fails; returns the final job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job.status in _DEID_JOB_ENDED:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TuningError(f"de-identification job {job_id} did not finish within {timeout} s")
            time.sleep(poll_interval)


# -- async resources ------------------------------------------------------------------


class AsyncTunings(_TuningsCalls):
    async def list(
        self, limit: int = 20, after: str | None = None, status: str | None = None
    ) -> AsyncPage[TuningJob]:
        data = await self._page(limit, after, status)
        return AsyncPage(
            [self._job(j) for j in data["data"]],
            data["has_more"],
            lambda cursor: self.list(limit=limit, after=cursor, status=status),
            record_id,
        )

    async def wait(
        self,
        job_id: str,
        on_progress: Callable[[TuningJob], None] | None = None,
        poll_interval: float = 2.0,
        timeout: float | None = None,
    ) -> TuningJob:
        deadline = None if timeout is None else time.monotonic() + timeout
        previous: TuningJob | None = None
        while True:
            job = await self.get(job_id)
            if on_progress is not None and _changed(previous, job):
                on_progress(job)
            previous = job
            if job.is_terminal:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TuningError(
                    f"job {job_id} did not finish within {timeout} s (status {job.status.value})"
                )
            await asyncio.sleep(poll_interval)

    wait_for_completion = wait

    async def stream_logs(self, job_id: str) -> AsyncIterator[str]:
        job = await self.get(job_id)
        async for line in self._client.runs.stream_logs(job.run_id):
            yield line


class AsyncFiles(_FilesCalls):
    async def upload(self, path: str | Path, purpose: str = "fine-tune") -> Record:
        content = Path(path).read_bytes()
        return await self._t.request(
            "POST",
            "/v1/files",
            cast=Record,
            data={"purpose": purpose},
            files={"file": (Path(path).name, content, "application/octet-stream")},
        )

    async def content(self, file_id: str) -> bytes:
        return (await self._t.raw("GET", f"/v1/files/{file_id}/content")).content


class AsyncModels(_ModelsCalls):
    pass


class AsyncProjects(_ProjectsCalls):
    async def list(self, limit: int = 20, after: str | None = None, **filters: Any) -> AsyncPage[Record]:
        data = await self._t.request(
            "GET", "/projects", params=_clean({"limit": limit, "after": after, **filters})
        )
        return AsyncPage(
            [Record(p) for p in data["data"]],
            data["has_more"],
            lambda cursor: self.list(limit=limit, after=cursor, **filters),
            lambda p: p.raw["name"],
        )


class AsyncRuns(_RunsCalls):
    async def list(self, project: str, limit: int = 20, after: str | None = None) -> AsyncPage[Record]:
        data = await self._t.request(
            "GET", f"/projects/{project}/runs", params=_clean({"limit": limit, "after": after})
        )
        return AsyncPage(
            [Record(r) for r in data["data"]],
            data["has_more"],
            lambda cursor: self.list(project, limit=limit, after=cursor),
            record_id,
        )

    async def stream_logs(self, run_id: str) -> AsyncIterator[str]:
        parser = SseParser()
        async with self._t.http.stream("GET", f"/runs/{run_id}/logs/stream", timeout=None) as response:
            if response.is_error:
                await response.aread()
                from tuning_sdk._base import raise_for_response

                raise_for_response(response)
            async for line in response.aiter_lines():
                for event, data in parser.feed([line]):
                    if event == "end":
                        return
                    yield data["line"]


class AsyncDatasets(_DatasetsCalls):
    async def list(self, limit: int = 20, after: str | None = None) -> AsyncPage[Record]:
        data = await self._t.request("GET", "/v1/datasets", params=_clean({"limit": limit, "after": after}))
        return AsyncPage(
            [Record(d) for d in data["data"]],
            data["has_more"],
            lambda cursor: self.list(limit=limit, after=cursor),
            record_id,
        )

    async def upload_file(self, dataset_id: str, path: str | Path) -> Record:
        content = Path(path).read_bytes()
        return await self._t.request(
            "PUT",
            f"/v1/datasets/{dataset_id}/files",
            cast=Record,
            files={"file": (Path(path).name, content, "application/octet-stream")},
        )


class AsyncTrainConfigs(_TrainConfigsCalls):
    async def list(self, limit: int = 20, after: str | None = None) -> AsyncPage[Record]:
        data = await self._t.request(
            "GET", "/v1/train-configs", params=_clean({"limit": limit, "after": after})
        )
        return AsyncPage(
            [Record(c) for c in data["data"]],
            data["has_more"],
            lambda cursor: self.list(limit=limit, after=cursor),
            record_id,
        )


class AsyncDeid(_DeidCalls):
    async def wait_for_job(
        self, job_id: str, poll_interval: float = 1.0, timeout: float | None = None
    ) -> Record:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id)
            if job.status in _DEID_JOB_ENDED:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TuningError(f"de-identification job {job_id} did not finish within {timeout} s")
            await asyncio.sleep(poll_interval)


class AsyncDeployments(_DeploymentsCalls):
    async def wait(
        self, deployment_id: str, poll_interval: float = 1.0, timeout: float | None = None
    ) -> Record:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            deployment = await self.get(deployment_id)
            if deployment.status not in _DEPLOYMENT_SETTLING:
                return deployment
            if deadline is not None and time.monotonic() > deadline:
                raise TuningError(
                    f"deployment {deployment_id} is still {deployment.status} after {timeout} s"
                )
            await asyncio.sleep(poll_interval)
