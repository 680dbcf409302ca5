"""Per-key rate limits by route group, with the `limits` library (memory or Redis storage).

The check is `async` (limits' asyncio strategies and storages), so a request
spends no worker thread on it: in memory it never leaves the event loop, and a
shared Redis is asked with redis-py's asyncio client.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from src.models.errors import RateLimited


class RateLimiter:
    """`check(group, identity)` raises 429 with a retry time once the group's limit is used up."""

    def __init__(
        self, *, storage_uri: str, limits_by_group: dict[str, str], key_prefix: str = "tuning"
    ) -> None:
        options: dict[str, str] = {}
        if storage_uri.startswith(("redis://", "rediss://")):
            options = {"key_prefix": key_prefix, "implementation": "redispy"}
        self._limiter = MovingWindowRateLimiter(storage_from_string(f"async+{storage_uri}", **options))
        self._limits = {group: parse(text) for group, text in limits_by_group.items()}

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
