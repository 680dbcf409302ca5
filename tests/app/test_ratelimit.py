"""The per-key limiter: async checks on memory or a shared Redis, whatever way the URI is written."""

from __future__ import annotations

import time
import uuid

import anyio
import pytest

from app.ratelimit import RateLimiter
from src.models.errors import RateLimited
from tests.features.tunings.test_api import REDIS_URL


@pytest.mark.parametrize("uri", ["memory://", "async+memory://"])
def test_the_third_call_in_a_window_of_two_is_refused(uri: str) -> None:
    async def calls() -> None:
        limiter = RateLimiter(storage_uri=uri, limits_by_group={"tunings": "2/minute"})
        await limiter.check("tunings", "key:1")
        await limiter.check("tunings", "key:1")
        await limiter.check("other-group", "key:1")  # no limit for it
        await limiter.check("tunings", "key:2")  # another caller's budget
        with pytest.raises(RateLimited) as refused:
            await limiter.check("tunings", "key:1")
        assert 1 <= refused.value.retry_after <= 60
        await limiter.aclose()

    anyio.run(calls)


def test_a_redis_limiter_closes_its_connections() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable")

    server = redis.Redis.from_url(REDIS_URL)
    prefix = f"test-{uuid.uuid4().hex[:8]}"

    def ours() -> int:
        return sum(1 for client in server.client_list() if client.get("name") == f"{prefix}-ratelimit")

    async def calls() -> None:
        limiter = RateLimiter(
            storage_uri=REDIS_URL, limits_by_group={"tunings": "1/minute"}, key_prefix=prefix
        )
        await limiter.check("tunings", "key:1")
        with pytest.raises(RateLimited):
            await limiter.check("tunings", "key:1")
        assert ours() >= 1
        await limiter.aclose()

    anyio.run(calls)
    deadline = time.monotonic() + 5
    while ours() and time.monotonic() < deadline:  # the server notices the close a moment later
        time.sleep(0.05)
    assert ours() == 0
