"""Default plugin: aiocache's memory cache, or Redis with CACHE_TYPE=redis (which falls back to
memory while Redis is unreachable: `forge.defaults.redis_cache`)."""

from urllib.parse import urlsplit

from aiocache import Cache

from forge.hookspecs import hookimpl


@hookimpl
def forge_cache(gateway):
    settings = gateway.settings
    if settings.cache_type == "redis":
        from forge.defaults.redis_cache import RedisOrLocalCache  # the `redis` extra

        url = urlsplit(settings.redis_url)
        return RedisOrLocalCache(
            endpoint=url.hostname or "127.0.0.1",
            port=url.port or 6379,
            db=int((url.path or "/0").strip("/") or 0),
            password=url.password,
            namespace=settings.redis_prefix,
        )
    return Cache(Cache.MEMORY, namespace="forge")
