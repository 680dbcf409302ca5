"""Probes: liveness, health with real job counts, readiness, Prometheus metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.config import ServerSettings, StoreSettings
from tests.conftest import ALICE_KEY, bearer
from tests.support.rows import add_run
from tests.support.tcp_proxy import TcpProxy


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
