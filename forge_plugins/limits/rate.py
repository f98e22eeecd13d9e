"""Rate limits over the `limits` library: which counters a request spends, and where they live.

Layer: plugin (limits), below the MCP middleware and the API guard that ask it. Counters live in
memory (one process), or in Redis so that every worker and replica of a gateway counts together:
RATE_LIMIT_STORAGE_URL, else REDIS_URL when CACHE_TYPE=redis, else memory. When Redis does not
answer, counting goes on in this process's memory with a warning (at most one a minute), and
back to Redis once it answers again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from limits import RateLimitItem, parse_many
from limits.aio.strategies import STRATEGIES
from limits.errors import StorageError
from limits.storage import storage_from_string

log = logging.getLogger("forge.limits")

REDIS_OPTIONS = {"implementation": "redispy", "socket_connect_timeout": 1.0, "socket_timeout": 1.0}
WARN_EVERY_SECONDS = 60.0


def storage_url(kernel, settings) -> str:
    """The limits library's async storage URL for this gateway's counters."""
    url = settings.rate_limit_storage_url or (kernel.redis_url if kernel.cache_type == "redis" else "memory://")
    return url if url.startswith("async+") else "async+" + url


class RateLimits:
    """The configured limits of one gateway; `retry_after(...)` spends one hit of each."""

    def __init__(self, kernel, settings):
        self.per_principal = _parsed(settings.rate_limit_per_principal)
        self.per_tool = _parsed(settings.rate_limit_per_tool)
        self.tool_overrides = {name: _parsed(limit) for name, limit in settings.rate_limit_tools.items()}
        self.url = storage_url(kernel, settings)
        self.prefix = f"{kernel.redis_prefix}:limits"
        self.strategy = STRATEGIES[settings.rate_limit_strategy]
        self.limiter = None
        self.fallback = None
        self._warned = -math.inf

    @property
    def active(self) -> bool:
        return bool(self.per_principal or self.per_tool or any(self.tool_overrides.values()))

    async def start(self) -> None:
        """Open the storage (in the serving event loop: the memory storage starts a task there)."""
        options = {"key_prefix": self.prefix, **REDIS_OPTIONS} if "redis" in self.url.split("://")[0] else {}
        self.limiter = self.strategy(storage_from_string(self.url, wrap_exceptions=True, **options))
        self.fallback = self.strategy(storage_from_string("async+memory://"))

    def tool_limits(self, name: str) -> Sequence[RateLimitItem]:
        return self.tool_overrides.get(name, self.per_tool)

    async def retry_after(self, limits: Sequence[RateLimitItem], *keys: str) -> int | None:
        """Spend one hit of each limit for `keys`; None when all allow it, else the seconds until
        the first that refused has room again."""
        for limit in limits:
            limiter = self.limiter
            try:
                allowed = await limiter.hit(limit, *keys)
            except StorageError as error:
                self._warn(error)
                limiter = self.fallback
                allowed = await limiter.hit(limit, *keys)
            if not allowed:
                try:
                    stats = await limiter.get_window_stats(limit, *keys)
                    reset = stats.reset_time
                except StorageError:
                    reset = time.time() + limit.get_expiry()
                return max(1, math.ceil(reset - time.time()))
        return None

    def _warn(self, error: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY_SECONDS:
            self._warned = now
            log.warning(
                "rate limit storage %s is not answering (%s): counting in this process only until it does",
                self.url.split("@")[-1],
                error.storage_error,
            )


def _parsed(value: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(value)) if value else ()
