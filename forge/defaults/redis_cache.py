"""The Redis cache of the default cache plugin (`forge.defaults.cache`), imported only with
CACHE_TYPE=redis (the `redis` extra): aiocache's Redis cache, falling back to a memory cache of
this process while Redis cannot be reached. A warning when Redis is lost, another when it answers
again; reads and writes keep working (each process caching for itself, as with CACHE_TYPE=memory)
instead of failing MCP calls.
"""

from __future__ import annotations

import logging

from aiocache.backends.memory import SimpleMemoryBackend
from aiocache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger("forge.cache")

CONNECT_SECONDS = 2.0  # how long a Redis connection may take before Redis counts as unreachable


class RedisOrLocalCache(RedisCache):
    """aiocache's Redis cache; while Redis fails, the same operations on a local memory cache."""

    def __init__(self, **kwargs):
        super().__init__(create_connection_timeout=CONNECT_SECONDS, **kwargs)
        self.local = SimpleMemoryBackend()
        self.lost = False

    async def _fallback(self, operation: str, *args, **kwargs):
        try:
            answer = await getattr(super(), operation)(*args, **kwargs)
        except (OSError, TimeoutError, RedisError) as error:
            if not self.lost:
                self.lost = True
                log.warning("Redis cache unreachable (%s); caching in this process until it answers", error)
            kwargs.pop("_conn", None)
            return await getattr(self.local, operation)(*args, **kwargs)
        if self.lost:
            self.lost = False
            log.warning("Redis cache answers again; the local fallback is dropped")
            await self.local._clear()
        return answer

    async def _get(self, key, encoding="utf-8", _conn=None):
        return await self._fallback("_get", key, encoding=encoding, _conn=_conn)

    async def _set(self, key, value, ttl=None, _cas_token=None, _conn=None):
        return await self._fallback("_set", key, value, ttl=ttl, _cas_token=_cas_token, _conn=_conn)

    async def _delete(self, key, _conn=None):
        return await self._fallback("_delete", key, _conn=_conn)
