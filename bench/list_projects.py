"""Benchmark: `GET /projects?limit=20` at 100 and at 100,000 projects, in one run.

Cursor pagination on an index should make a page cost the same whatever the
table size; the printed ratio (large / small) is the figure to watch (goal <= 2).

    .venv/bin/python -m bench.list_projects [--postgresql] [--requests 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from app.config import AuthSettings, BootstrapKey, ServerSettings, Settings, StoreSettings
from app.factory import create_app
from src.storage import Store
from src.storage.tables import Project, ProjectTag
from src.storage.types import utcnow
from tests.support.databases import create_pg_database, drop_pg_database

KEY = "bench-admin-key-0"
USER_KEY = "bench-user-key-00"


def fill(store: Store, count: int) -> None:
    """Insert `count` projects (every tenth tagged, every other owned by 'alice') in batches."""
    now = utcnow()
    batch = 10_000
    with store.session_scope() as session:
        for start in range(0, count, batch):
            rows = [
                {
                    "name": f"p{i:07d}",
                    "owner": "alice" if i % 2 else "bob",
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, min(start + batch, count))
            ]
            session.execute(insert(Project), rows)
        session.flush()
        ids = session.execute(Project.__table__.select().with_only_columns(Project.id)).scalars().all()
        tags = [{"project_id": pid, "tag": "even" if pid % 2 == 0 else "odd", "position": 0} for pid in ids]
        for start in range(0, len(tags), batch):
            session.execute(insert(ProjectTag), tags[start : start + batch])


def time_pages(client: TestClient, *, path: str, key: str, requests: int) -> float:
    """Median seconds per request, after a warm-up."""
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(20):
        assert client.get(path, headers=headers).status_code == 200
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200 and len(response.json()["data"]) == 20
    return statistics.median(samples)


def measure(database_url: str, data_dir: Path, *, projects: int, requests: int) -> dict[str, float]:
    settings = Settings(
        server=ServerSettings(log_level="WARNING"),
        store=StoreSettings(database_url=database_url, data_dir=data_dir),
        auth=AuthSettings(
            api_keys=[
                BootstrapKey(key=KEY, owner="root", role="admin"),
                BootstrapKey(key=USER_KEY, owner="alice", role="user"),
            ]
        ),
    )
    with TestClient(create_app(settings)) as client:
        fill(client.app.state.store, projects)
        return {
            "first page": time_pages(client, path="/projects?limit=20", key=KEY, requests=requests),
            "deep page": time_pages(
                client, path=f"/projects?limit=20&after=p{projects // 2:07d}", key=KEY, requests=requests
            ),
            "owner-scoped": time_pages(client, path="/projects?limit=20", key=USER_KEY, requests=requests),
            "tag filter": time_pages(client, path="/projects?limit=20&tag=even", key=KEY, requests=requests),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgresql", action="store_true", help="throwaway databases on TUNING_TEST_PG_SERVER"
    )
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for size in (100, 100_000):
            if args.postgresql:
                url = create_pg_database(f"bench_{size}")
            else:
                url = f"sqlite:///{tmp}/bench-{size}.db"
            try:
                results[size] = measure(
                    url, Path(tmp) / f"data-{size}", projects=size, requests=args.requests
                )
            finally:
                if args.postgresql:
                    drop_pg_database(url)
    print(f"GET /projects?limit=20, median of {args.requests} requests")
    print(f"{'case':<14}{'100 rows':>12}{'100,000 rows':>15}{'ratio':>8}")
    for case in results[100]:
        small, large = results[100][case], results[100_000][case]
        print(f"{case:<14}{small * 1000:>10.2f}ms{large * 1000:>13.2f}ms{large / small:>8.2f}")


if __name__ == "__main__":
    main()
