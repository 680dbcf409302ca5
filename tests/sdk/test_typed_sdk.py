"""The typed SDK without a server: result models, the one list helper in both clients, the gpus
resource and streamed uploads, against httpx's MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import tuning_sdk._uploads as uploads
from tuning_sdk import (
    AsyncPage,
    AsyncTuningClient,
    Dataset,
    Deployment,
    Gpu,
    HealthReport,
    JobMetrics,
    JobStatus,
    LogPage,
    Run,
    SyncPage,
    TuningClient,
    TuningJob,
)

BASE = "http://tuning.test"
HEALTH = {"status": "healthy", "version": "1.2.3", "uptime": 5.2, "active_jobs": 1, "total_jobs": 4}
JOB = {
    "id": "job-000000000001",
    "object": "tuning.job",
    "model": "tuning/tiny-demo",
    "status": "running",
    "created_at": "2026-11-30T09:12:30Z",
    "started_at": "2026-11-30T09:12:31Z",
    "finished_at": None,
    "training_file": "file-1",
    "validation_file": None,
    "hyperparameters": {"epochs": 3.0},
    "metrics": {"progress": 0.5, "current_epoch": 1.5, "total_epochs": 3.0, "train_loss": 1.25},
    "result_files": [],
    "fine_tuned_model": None,
    "error": None,
    "duration": None,
    "queue_position": None,
    "run_id": "run-" + "0" * 28,
}
RUN = {"id": "run-" + "1" * 28, "project": "demo", "status": "pending", "progress": 0.0}
DATASET = {"id": "ds-1", "name": "chats", "status": "ready", "files": []}
GPUS = {
    "object": "list",
    "source": "settings",
    "data": [
        {
            "id": "0",
            "name": None,
            "memory_total_mib": None,
            "memory_used_mib": None,
            "utilization_percent": None,
            "held": True,
            "holder": {"type": "deployment", "id": "dep-1"},
        },
        {
            "id": "1",
            "name": None,
            "memory_total_mib": None,
            "memory_used_mib": None,
            "utilization_percent": None,
            "held": False,
            "holder": None,
        },
    ],
}


class Recorder:
    """Answers requests from `routes` (path -> JSON or a function of the request) and keeps them."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes[request.url.path]
        return httpx.Response(200, json=route(request) if callable(route) else route)

    def sync_client(self) -> TuningClient:
        http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(self.answer))
        return TuningClient(api_key="k", http_client=http, max_retries=0)

    def async_client(self, handler: Callable[[httpx.Request], Any] | None = None) -> AsyncTuningClient:
        http = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(handler or self.answer))
        return AsyncTuningClient(api_key="k", http_client=http, max_retries=0)

    def params(self) -> list[dict[str, str]]:
        return [dict(r.url.params) for r in self.requests]


def pages_of(item: dict[str, Any], key: str = "id") -> Callable[[httpx.Request], dict[str, Any]]:
    """Two pages of one item each: the second is asked for with `after` = the first item's key."""

    def page(request: httpx.Request) -> dict[str, Any]:
        if "after" not in request.url.params:
            return {"object": "list", "data": [item], "has_more": True}
        assert request.url.params["after"] == item[key]
        return {"object": "list", "data": [{**item, key: item[key] + "-2"}], "has_more": False}

    return page


# -- result models --------------------------------------------------------------------


def test_results_are_typed_models_with_item_access_too() -> None:
    recorder = Recorder({"/health": HEALTH, "/v1/tunings.get/job-000000000001": JOB})
    with recorder.sync_client() as client:
        health = client.health_check()
        job = client.tunings.get(JOB["id"])
    assert isinstance(health, HealthReport)
    assert health["status"] == health.status == "healthy" and health["active_jobs"] == 1
    assert isinstance(job, TuningJob) and job.status is JobStatus.running and job["status"] is job.status
    assert isinstance(job.created_at, datetime) and job.created_at.tzinfo is not None
    assert isinstance(job.metrics, JobMetrics) and job.metrics.progress == 0.5
    assert job.metrics.current_epoch == 1.5 and job.metrics.train_loss == 1.25
    assert job.raw == JOB  # the answer as sent: what the CLI prints
    with pytest.raises(KeyError):
        health["no_such_field"]
    assert health.get("no_such_field", "x") == "x"


def test_a_newer_servers_fields_and_statuses_are_kept_not_refused() -> None:
    newer = {**JOB, "status": "paused", "priority": 7, "metrics": {"progress": 0.0, "train_loss": None}}
    job = TuningJob.model_validate(newer)
    assert job.status is JobStatus.unknown and job.metrics is None  # no loss yet: no metrics
    assert job.priority == 7 and job["priority"] == 7  # type: ignore[attr-defined]
    assert HealthReport.model_validate({"status": "healthy"}).version is None


def test_the_seed_scripts_reads_of_a_finished_job() -> None:
    """Seed 001 reads `final_job.duration` and `final_job.error` (and `health['status']`, above)."""
    failed = TuningJob.model_validate(
        {**JOB, "status": "failed", "duration": 3.5, "error": {"code": "exit_code", "message": "exit 1"}}
    )
    assert failed.is_failed and failed.is_terminal and failed.duration == 3.5
    assert (
        failed.error is not None
        and failed.error.message == "exit 1"
        and failed["error"]["code"] == "exit_code"
    )


def test_nested_results_are_models_and_subscriptable() -> None:
    logs = LogPage.model_validate(
        {
            "data": [{"seq": 1, "line": "hello", "source": "output", "tags": [], "created_at": None}],
            "last_seq": 1,
        }
    )
    assert logs["data"][0]["line"] == logs.data[0].line == "hello"
    deployment = Deployment.model_validate(
        {"id": "dep-1", "status": "running", "gpu_ids": ["1"], "port": 20000}
    )
    assert f"{deployment.id} {deployment.status}" == "dep-1 running"  # a plain string, as the CLI prints it


def test_a_job_refreshes_in_place() -> None:
    done = {**JOB, "status": "succeeded", "fine_tuned_model": "tuning/tiny-demo-ft", "duration": 12.5}
    recorder = Recorder({"/v1/tunings.get/job-000000000001": done})
    with recorder.sync_client() as client:
        job = TuningJob.bound(JOB, client)
        assert job.refresh() is job
    assert job.is_successful and job.fine_tuned_model == "tuning/tiny-demo-ft" and job.duration == 12.5
    assert job.raw["status"] == "succeeded"


# -- one list helper, every filter in both clients ------------------------------------


def test_sync_lists_send_their_filters_and_page_on_their_own() -> None:
    recorder = Recorder(
        {
            "/projects/demo/runs": pages_of(RUN),
            "/v1/datasets": pages_of(DATASET),
            "/projects": pages_of({"name": "demo"}, key="name"),
        }
    )
    with recorder.sync_client() as client:
        runs = client.runs.list("demo", limit=1, status="pending")
        assert isinstance(runs, SyncPage) and isinstance(runs.data[0], Run)
        assert [r.id for r in runs] == [RUN["id"], RUN["id"] + "-2"]
        datasets = client.datasets.list(limit=1, status="ready", name="chats")
        assert all(isinstance(d, Dataset) for d in datasets)
        assert [p.name for p in client.projects.list(tag="t", owner="alice", status="active")] == [
            "demo",
            "demo-2",
        ]
    assert recorder.params() == [
        {"limit": "1", "status": "pending"},
        {"limit": "1", "status": "pending", "after": RUN["id"]},
        {"limit": "1", "status": "ready", "name": "chats"},
        {"limit": "1", "status": "ready", "name": "chats", "after": "ds-1"},
        {"limit": "20", "tag": "t", "owner": "alice", "status": "active"},
        {"limit": "20", "tag": "t", "owner": "alice", "status": "active", "after": "demo"},
    ]


def test_async_runs_and_datasets_lists_keep_their_filters() -> None:
    recorder = Recorder({"/projects/demo/runs": pages_of(RUN), "/v1/datasets": pages_of(DATASET)})

    async def scenario() -> tuple[list[str], list[str]]:
        async with recorder.async_client() as client:
            runs = await client.runs.list("demo", limit=1, status="pending")
            assert isinstance(runs, AsyncPage) and isinstance(runs.data[0], Run)
            run_ids = [r.id async for r in runs]
            datasets = await client.datasets.list(limit=1, status="ready", name="chats")
            return run_ids, [d.id async for d in datasets]

    run_ids, dataset_ids = asyncio.run(scenario())
    assert run_ids == [RUN["id"], RUN["id"] + "-2"] and dataset_ids == ["ds-1", "ds-1-2"]
    assert recorder.params() == [
        {"limit": "1", "status": "pending"},
        {"limit": "1", "status": "pending", "after": RUN["id"]},
        {"limit": "1", "status": "ready", "name": "chats"},
        {"limit": "1", "status": "ready", "name": "chats", "after": "ds-1"},
    ]


def test_sync_and_async_resources_share_every_call() -> None:
    """Each call is written once: the sync and async resources expose the same names and signatures."""
    import inspect

    sync = TuningClient(api_key="k", base_url=BASE)
    asynchronous = AsyncTuningClient(api_key="k", base_url=BASE)
    resources = ("tunings", "files", "models", "projects", "runs", "datasets", "train_configs", "deid")
    for name in (*resources, "deployments", "gpus"):
        one, other = getattr(sync, name), getattr(asynchronous, name)
        public = {n for n in dir(one) if not n.startswith("_")}
        assert public == {n for n in dir(other) if not n.startswith("_")}, name
        for method in public:
            parameters = inspect.signature(getattr(one, method)).parameters
            assert parameters == inspect.signature(getattr(other, method)).parameters, method


# -- gpus -----------------------------------------------------------------------------


def test_gpus_resource_in_both_clients() -> None:
    recorder = Recorder({"/v1/gpus": GPUS})
    with recorder.sync_client() as client:
        gpus = client.gpus.list()
    assert all(isinstance(g, Gpu) for g in gpus)
    assert [(g.id, g.held, g.holder.id if g.holder else None) for g in gpus] == [
        ("0", True, "dep-1"),
        ("1", False, None),
    ]
    assert gpus[0].holder is not None and gpus[0].holder.type == "deployment"

    async def scenario() -> list[str]:
        async with recorder.async_client() as client:
            return [g.id for g in await client.gpus.list()]

    assert asyncio.run(scenario()) == ["0", "1"]
    assert [r.url.path for r in recorder.requests] == ["/v1/gpus", "/v1/gpus"]


def test_cli_status_reads_gpus_through_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    from tuning_sdk import cli
    from typer.testing import CliRunner

    recorder = Recorder(
        {
            "/health": HEALTH,
            "/v1/gpus": GPUS,
            "/v1/tunings.list": {"object": "list", "data": [JOB], "has_more": False},
        }
    )
    monkeypatch.setattr(cli, "client", recorder.sync_client)
    result = CliRunner().invoke(cli.app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["health"] == HEALTH and answer["gpus"] == GPUS["data"] and answer["running"] == [JOB]
    table = CliRunner().invoke(cli.app, ["status"])
    assert (
        table.exit_code == 0 and "server 1.2.3: 1 active run(s)" in table.stdout and "dep-1" in table.stdout
    )


# -- streamed uploads -----------------------------------------------------------------


def multipart_file(body: bytes) -> tuple[dict[str, str], bytes]:
    """The text fields and the file's bytes from a multipart body."""
    boundary = body.split(b"\r\n", 1)[0]
    fields: dict[str, str] = {}
    content = b""
    for part in body.split(boundary)[1:-1]:
        head, _, value = part[2:-2].partition(b"\r\n\r\n")
        if b'filename="' in head:
            content = value
        else:
            fields[head.split(b'name="')[1].split(b'"')[0].decode()] = value.decode()
    return fields, content


FILE_ANSWER = {"id": "file-1", "bytes": 4500, "filename": "train.jsonl", "status": "processed"}


class StreamReader(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """A transport that reads the request body chunk by chunk as a network transport would
    (MockTransport reads it whole first), keeps the chunk sizes, and answers `answers` in turn."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.chunks: list[list[int]] = []
        self.bodies: list[bytes] = []
        self.headers: list[httpx.Headers] = []

    def _keep(self, request: httpx.Request, chunks: list[bytes]) -> httpx.Response:
        self.chunks.append([len(c) for c in chunks])
        self.bodies.append(b"".join(chunks))
        self.headers.append(request.headers)
        return self.answers.pop(0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        assert not isinstance(request.stream, httpx.ByteStream)  # not bytes already in memory
        return self._keep(request, [chunk async for chunk in request.stream])

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert not isinstance(request.stream, httpx.ByteStream)
        assert isinstance(request.stream, httpx.SyncByteStream)
        return self._keep(request, list(request.stream))


def test_async_upload_streams_the_file_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "CHUNK_SIZE", 1000)
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"x" * 4500)
    reads: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, *args, **kwargs)
        if self == path:
            read = handle.read

            def read_some(size: int = -1) -> bytes:
                assert 0 < size <= 1000, "the whole file read at once"
                reads.append(size)
                return read(size)

            handle.read = read_some
        return handle

    monkeypatch.setattr(Path, "open", counting_open)
    transport = StreamReader(httpx.Response(200, json=FILE_ANSWER))
    progress: list[tuple[int, int]] = []

    async def scenario() -> Any:
        http = httpx.AsyncClient(base_url=BASE, transport=transport)
        async with AsyncTuningClient(api_key="k", http_client=http) as client:
            return await client.files.upload(
                path, on_progress=lambda sent, total: progress.append((sent, total))
            )

    uploaded = asyncio.run(scenario())
    assert uploaded.id == "file-1" and uploaded.bytes == 4500
    (chunks,) = transport.chunks
    assert chunks[1:-1] == [1000, 1000, 1000, 1000, 500]  # between the multipart head and tail
    assert len(reads) == 6  # five chunks and the empty read at the end
    fields, content = multipart_file(transport.bodies[0])
    assert content == b"x" * 4500 and fields == {"purpose": "fine-tune"}
    assert int(transport.headers[0]["content-length"]) == len(transport.bodies[0])
    assert progress == [(1000, 4500), (2000, 4500), (3000, 4500), (4000, 4500), (4500, 4500)]


def test_sync_uploads_stream_with_progress_and_resend_whole_on_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "CHUNK_SIZE", 1000)
    monkeypatch.setattr("tuning_sdk._base.MAX_BACKOFF", 0.01)
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"y" * 2500)
    answer = {"upload_id": "u", "dataset_id": "ds-1", "bytes": 2500, "filename": path.name, "status": "valid"}
    transport = StreamReader(
        httpx.Response(503, json={"error": {"message": "busy"}}), httpx.Response(200, json=answer)
    )
    http = httpx.Client(base_url=BASE, transport=transport)
    progress: list[int] = []
    with TuningClient(api_key="k", http_client=http, max_retries=1) as client:
        uploaded = client.datasets.upload_file(
            "ds-1", path, on_progress=lambda sent, total: progress.append(sent)
        )
    assert uploaded.status == "valid" and uploaded.bytes == 2500
    assert [c[1:-1] for c in transport.chunks] == [[1000, 1000, 500]] * 2
    # the retry sent the whole file again
    assert [multipart_file(body)[1] for body in transport.bodies] == [path.read_bytes()] * 2
    assert progress == [1000, 2000, 2500, 1000, 2000, 2500]
