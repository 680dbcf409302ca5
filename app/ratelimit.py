"""Per-key rate limits by route group, with the `limits` library (memory or Redis storage).

The check is `async` (limits' asyncio strategies and storages), so a request
spends no worker thread on it: in memory it is answered on the event loop (limits
sweeps expired windows in the background), and a shared Redis is asked through a
redis-py asyncio connection pool this class owns and closes.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool

from src.models.errors import RateLimited


class RateLimiter:
    """`check(group, identity)` raises 429 with a retry time once the group's limit is used up."""

    def __init__(
        self, *, storage_uri: str, limits_by_group: dict[str, str], key_prefix: str = "tuning"
    ) -> None:
        uri = storage_uri.removeprefix("async+")
        options: dict[str, object] = {}
        self._pool: ConnectionPool | None = None
        if uri.startswith(("redis://", "rediss://")):
            # named, so `CLIENT LIST` on a shared Redis says whose connections these are
            self._pool = ConnectionPool.from_url(uri, client_name=f"{key_prefix}-ratelimit")
            options = {"key_prefix": key_prefix, "implementation": "redispy", "connection_pool": self._pool}
        elif uri.startswith("redis"):  # redis+unix://, redis+sentinel://, ...: redis-py, not coredis
            options = {"key_prefix": key_prefix, "implementation": "redispy"}
        self._limiter = MovingWindowRateLimiter(storage_from_string(f"async+{uri}", **options))
        self._limits = {group: parse(text) for group, text in limits_by_group.items()}

    async def aclose(self) -> None:
        """Close the Redis connections (on shutdown, on the loop that opened them)."""
        if self._pool is not None:
            await self._pool.aclose()

    async def check(self, group: str, identity: str) -> None:
        limit = self._limits.get(group)
        if limit is None:
            return
        if await self._limiter.hit(limit, group, identity):
            return
        reset_at, _remaining = await self._limiter.get_window_stats(limit, group, identity)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"rate limit of {limit} for {group} reached; retry in {retry_after} s",
            code="rate_limited",
            retry_after=retry_after,
        )
