"""Probes: liveness, health with real job counts, readiness, Prometheus metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.config import DeploymentSettings, ModelSettings, ServerSettings, StoreSettings, TrainingSettings
from tests.conftest import ALICE_KEY, bearer
from tests.support.data import OPENAI, jsonl
from tests.support.rows import add_run
from tests.support.server import free_port
from tests.support.tcp_proxy import TcpProxy

ALICE = bearer(ALICE_KEY)


def gauges(client: TestClient) -> dict[str, float]:
    """The store's gauges of one /metrics scrape, keyed by name and labels as written."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in response.text.splitlines()
        if line.startswith(
            ("tuning_store_up", "tuning_runs", "tuning_run_", "tuning_deployments", "tuning_gpus")
        )
    }


def test_liveness_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/_internal/health").json() == {"status": "ok"}


def test_health_counts_real_runs(client: TestClient, store) -> None:
    before = client.get("/health").json()
    assert before["status"] == "healthy"
    assert before["version"] == "0.1.0"
    assert before["active_jobs"] == 0 and before["total_jobs"] == 0
    client.post("/projects", json={"name": "p"}, headers=bearer(ALICE_KEY))
    for status in ("pending", "running", "succeeded", "failed"):
        add_run(store, project="p", status=status)
    after = client.get("/health").json()
    assert (after["active_jobs"], after["total_jobs"]) == (2, 4)
    assert after["uptime"] >= before["uptime"]


def test_readyz_ok(client: TestClient) -> None:
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok"}}


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of a fresh PostgreSQL database, and the URL that goes through it."""
    target = make_url(pg_url)
    with TcpProxy(target.host, target.port) as proxy:
        yield proxy, target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def test_readyz_503_when_database_unreachable(pg_proxy, app_factory, tmp_path) -> None:
    """Readiness fails while the database is unreachable and recovers after."""
    proxy, proxied_url = pg_proxy
    client = app_factory(store=StoreSettings(database_url=proxied_url, data_dir=tmp_path / "d"))
    assert client.get("/readyz").status_code == 200
    proxy.stop_accepting()
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["param"] == "database" and error["code"] == "not_ready"
    assert client.get("/health").status_code == 503
    assert client.get("/healthz").status_code == 200
    proxy.start_accepting()
    assert client.get("/readyz").status_code == 200


def test_metrics_by_route_template(client: TestClient) -> None:
    client.get("/projects/one", headers=bearer(ALICE_KEY))
    client.get("/projects/two", headers=bearer(ALICE_KEY))
    client.get("/definitely/not/here")
    text = client.get("/metrics").text
    match = re.search(
        r'tuning_http_requests_total\{method="GET",route="/projects/\{name\}",status="404"\} (\d+)', text
    )
    assert match and float(match.group(1)) == 2.0
    assert "/projects/one" not in text
    assert 'route="unmatched"' in text
    assert "tuning_http_request_duration_seconds_bucket" in text


def test_pool_is_sized_for_worker_threads(app_factory) -> None:
    import anyio.to_thread

    client = app_factory(server=ServerSettings(worker_threads=12, log_level="WARNING"))
    engine = client.app.state.store.engine
    assert engine.pool.size() >= 12
    assert client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens) == 12


@pytest.fixture
def scheduling_client(app_factory, tmp_path) -> TestClient:
    """Two GPUs, a model root and no scheduler: runs stay pending and deployments stay starting."""
    model = tmp_path / "models" / "qwen2.5"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    port = min(free_port(), 65535 - 10)
    return app_factory(
        training=TrainingSettings(training_dir=tmp_path / "training", scheduler=False, gpus=["0", "1"]),
        models=ModelSettings(model_roots=[tmp_path / "models"]),
        deployments=DeploymentSettings(deploy_ports=f"{port}-{port + 9}"),
    )


def test_metrics_count_runs_queue_deployments_and_gpus_from_the_store(scheduling_client: TestClient) -> None:
    client = scheduling_client
    before = gauges(client)
    assert before["tuning_store_up"] == 1
    assert before['tuning_runs{status="pending"}'] == 0 and before["tuning_run_queue_length"] == 0
    assert before['tuning_deployments{status="starting"}'] == 0
    assert before["tuning_gpus_total"] == 2
    assert before['tuning_gpus_held{holder_type="deployment"}'] == 0

    dataset_id = client.post("/v1/datasets", json={"name": "d"}, headers=ALICE).json()["id"]
    client.put(f"/v1/datasets/{dataset_id}/files", files={"file": ("d.jsonl", jsonl(OPENAI))}, headers=ALICE)
    config_id = client.post(
        "/v1/train-configs", json={"name": "c.yaml", "content": "stage: sft\n"}, headers=ALICE
    ).json()["id"]
    client.post("/projects", json={"name": "p"}, headers=ALICE)
    for _ in range(2):
        run = client.post(
            "/projects/p/runs", json={"dataset": dataset_id, "train_config": config_id}, headers=ALICE
        )
        assert run.status_code == 201, run.text
    add_run(client.app.state.store, project="p", status="running")
    deployment = client.post("/deployments", json={"model_path": "qwen2.5"}, headers=ALICE)
    assert deployment.status_code == 201, deployment.text

    after = gauges(client)
    assert after['tuning_runs{status="pending"}'] == 2 and after["tuning_run_queue_length"] == 2
    assert after['tuning_runs{status="running"}'] == 1 and after['tuning_runs{status="failed"}'] == 0
    assert after['tuning_deployments{status="starting"}'] == 1
    assert after['tuning_gpus_held{holder_type="deployment"}'] == 1
    assert after['tuning_gpus_held{holder_type="run"}'] == 0 and after["tuning_gpus_total"] == 2


def test_metrics_still_answer_while_the_database_is_unreachable(pg_proxy, app_factory, tmp_path) -> None:
    proxy, proxied_url = pg_proxy
    client = app_factory(store=StoreSettings(database_url=proxied_url, data_dir=tmp_path / "d"))
    client.get("/healthz")
    assert gauges(client)["tuning_store_up"] == 1
    proxy.stop_accepting()
    down = gauges(client)
    assert down == {"tuning_store_up": 0.0}
    assert "tuning_http_requests_total" in client.get("/metrics").text
    proxy.start_accepting()
    assert gauges(client)["tuning_store_up"] == 1
