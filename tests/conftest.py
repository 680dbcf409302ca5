"""Shared fixtures: one database per test session (SQLite or PostgreSQL), a fresh app per test.

`TUNING_TEST_DATABASE=postgresql` runs the suite against a throwaway database on
the PostgreSQL server (`TUNING_TEST_PG_SERVER`); anything else uses SQLite.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from app.config import AuthSettings, BootstrapKey, ServerSettings, Settings, StoreSettings, TrainingSettings
from app.factory import create_app
from src.storage import Base, Store
from tests.support import databases

# Tests run as root inside pytest's temporary directories, which only root may enter
# (0700), so their children run as root too; tests/security/test_least_privilege.py
# turns the unprivileged user on where it can be seen working.
os.environ["TUNING_RUN_AS_USER"] = ""
# Every test app would otherwise build the demo model into its data directory on start;
# tests/features/models/test_demo.py turns it on.
os.environ["TUNING_DEMO_MODEL"] = "0"

ADMIN_KEY = "test-admin-key-000"
ALICE_KEY = "test-key-001"
BOB_KEY = "test-key-002"

TEST_KEYS = [
    BootstrapKey(key=ADMIN_KEY, owner="root", role="admin"),
    BootstrapKey(key=ALICE_KEY, owner="alice", role="user"),
    BootstrapKey(key=BOB_KEY, owner="bob", role="user"),
]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def pytest_report_header(config: pytest.Config) -> str:
    return f"tuning test database: {os.environ.get('TUNING_TEST_DATABASE', 'sqlite')}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL every app in this test session uses."""
    if os.environ.get("TUNING_TEST_DATABASE", "sqlite") == "postgresql":
        url = databases.create_pg_database()
        yield url
        databases.drop_pg_database(url)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'tuning.db'}"


def _trainer_available() -> bool:
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not _trainer_available():
        if os.environ.get("CI"):
            pytest.fail("the trainer's packages are missing: pip install -r requirements-trainer.txt")
        pytest.skip("the trainer's packages are not installed (requirements-trainer.txt)")
    from src.features.models.demo import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for tests that must run on PostgreSQL."""
    if not databases.pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {databases.pg_server_url()}")
        pytest.skip("PostgreSQL is not reachable")
    url = databases.create_pg_database("tuning_pg")
    yield url
    databases.drop_pg_database(url)


def make_settings(database_url: str, data_dir: Path, **sections: object) -> Settings:
    """Settings for a test app; the environment does not leak in for the values set here."""
    values: dict[str, object] = {
        "server": ServerSettings(log_level="WARNING"),
        "store": StoreSettings(database_url=database_url, data_dir=data_dir),
        "auth": AuthSettings(mode="api_key", api_keys=TEST_KEYS),
        "training": TrainingSettings(training_dir=data_dir.parent / "training", scheduler=False, gpus=[]),
    }
    values.update(sections)
    return Settings(**values)  # type: ignore[arg-type]


def clear_tables(store: Store) -> None:
    """Empty every table, after stopping the model servers the rows name (they would run on)."""
    stop_model_servers(store)
    with store.session_scope() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))


@pytest.fixture
def app_factory(database_url: str, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Build started TestClients on the session's database; tables are emptied afterwards."""
    clients: list[TestClient] = []

    def build(**sections: object) -> TestClient:
        client = TestClient(create_app(make_settings(database_url, tmp_path / "data", **sections)))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        clear_tables(client.app.state.store)
        client.__exit__(None, None, None)


def stop_model_servers(store: Store) -> None:
    """Kill the model servers a test started: by design they outlive the service, which re-adopts them."""
    from src.storage.tables import Deployment
    from src.utils import processes

    with store.session_scope() as session:
        for deployment in session.scalars(select(Deployment).where(Deployment.pid.is_not(None))):
            processes.terminate_group(deployment.pid, command=deployment.command, grace=0)


@pytest.fixture
def client(app_factory: Callable[..., TestClient]) -> TestClient:
    return app_factory()


@pytest.fixture
def store(client: TestClient) -> Store:
    return client.app.state.store
