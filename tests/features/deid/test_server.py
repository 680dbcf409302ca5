"""The test call against the real server process: a large request leaves the event loop free."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.deid_corpus import corpus
from tests.support.server import live_server

pytestmark = pytest.mark.slow
KEY = "test-admin-key-000"


@pytest.fixture
def base_url(tmp_path: Path, database_url: str) -> Iterator[str]:
    with live_server(database_url, tmp_path) as base:
        yield base


def test_large_request_does_not_stall_other_requests(base_url: str) -> None:
    messages = corpus(7_000_000)  # about 4.6 million characters: seconds of work on these machines
    texts = ["\n".join(messages[i : i + 20]) for i in range(0, len(messages), 20)]
    assert sum(map(len, texts)) < 5_000_000  # under the default per-call limit
    big: dict[str, float] = {}

    def deidentify() -> None:
        with httpx.Client(timeout=300) as client:
            response = client.post(
                f"{base_url}/v1/deidentify:test",
                json={"text": texts},
                headers={"Authorization": f"Bearer {KEY}"},
            )
        big["status"] = response.status_code
        big["done"] = time.monotonic()

    worker = threading.Thread(target=deidentify)
    worker.start()
    answered: list[float] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while worker.is_alive():
            assert client.get("/healthz").status_code == 200
            answered.append(time.monotonic())
            time.sleep(0.05)
    worker.join()
    assert big["status"] == 200
    # health checks kept being answered while the large request was worked on; had it run on the
    # event loop, they would all have waited for it to finish
    assert len([t for t in answered if t < big["done"]]) >= 5
