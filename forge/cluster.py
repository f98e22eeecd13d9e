"""Many Forge processes serving as one: catalog changes and handshake-era sessions shared over Redis.

Layer: kernel, beside the gateway, which picks and starts it: `Cluster` (one process: nothing to
share) with the memory cache, `RedisCluster` on REDIS_URL with CACHE_TYPE=redis, so workers of
one `forge serve --workers N` and replicas behind a load balancer (no sticky sessions) agree.
The gateway calls `publish`, and hands `start` the function that applies what other processes
published; the session registry calls the session methods. Plugins take part through the gateway:
`gateway.publish_cluster_event(topic, data)` sends, the `forge_cluster_event` hook receives.

Why Redis pub/sub rather than PostgreSQL LISTEN/NOTIFY: sessions need a shared store as well, and
Redis is both; it works the same with SQLite on one host; and NOTIFY would hold one connection
per process outside SQLAlchemy's pool. Pub/sub is fire-and-forget, so a process that loses its
subscription reloads the whole catalog once it is back (what it missed is then in the store).

Events, JSON on the channel `{prefix}:events`, each tagged with the sender's id (a process ignores
its own): `{"type": "entities", "changes": [[kind, id], ...]}` (re-read those entities),
`{"type": "reload"}`, `{"type": "resource_updated", "uri": ...}`, `{"type": "session", "id": ...,
"state": {...} | null}` (a session changed, or ended), `{"type": "plugin", "topic": ..., "data":
...}` (a plugin's own event, `plugin_event`, handed to the other processes' `forge_cluster_event`).
A session's state is the key `{prefix}:session:{id}`, expiring when the session has been idle as
long as the registry allows.

Leases, for work that one process of the cluster should do, not all of them (the federation
plugin's imports, health checks and syncs): `hold_lease(name, ttl)` takes or renews the key
`{prefix}:lease:{name}`, holding this process's id, and answers whether this process holds it.
A short lease also coalesces what several processes hear at once: the federation plugin relays
an upstream's resources/updated for a URI only from the process that heard it first, which holds
`resource-updated:{gateway id}:{uri}` for a second (renewed by each update it relays) while the
others drop theirs (`forge_plugins.federation.upstream.Upstream._relay_update`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable

import orjson

log = logging.getLogger("forge.cluster")

RECONNECT_SECONDS = 1.0
START_SECONDS = 10.0
CONNECT_SECONDS = 2.0  # a Redis connection taking longer counts as Redis unreachable

OnEvent = Callable[[dict], Awaitable[None]]

# Take the lease if nobody holds it, renew it if we do (atomically: a holder whose lease expired
# and was taken by another process must not extend the other's). KEYS[1]: the lease; ARGV: our
# id, the ttl in milliseconds. Answers 1 when we hold it afterwards.
HOLD_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# Give the lease up, only if we hold it.
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def plugin_event(topic: str, data) -> dict:
    """The event carrying a plugin's `data` under `topic`; raises TypeError when `data` is not JSON
    (a plugin's mistake, told to it, not logged as a Redis failure by `publish`)."""
    if not isinstance(topic, str) or not topic:
        raise TypeError(f"a cluster event's topic is a non-empty string, not {topic!r}")
    orjson.dumps(data)  # raises orjson.JSONEncodeError, a TypeError
    return {"type": "plugin", "topic": topic, "data": data}


class ClusterUnavailable(Exception):
    """The shared channel cannot be reached at start; the message names the setting."""


class Cluster:
    """A process on its own: nothing is published, no session is found elsewhere."""

    shared = False

    async def connect(self) -> None:
        """Ready to `publish`, not listening: for a process that serves nothing (a command line)."""

    async def start(self, on_event: OnEvent) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, event: dict) -> None:
        pass

    async def load_session(self, session_id: str) -> dict | None:
        return None

    async def save_session(self, session_id: str, state: dict, ttl_seconds: float) -> None:
        pass

    async def touch_session(self, session_id: str, ttl_seconds: float) -> None:
        pass

    async def delete_session(self, session_id: str) -> None:
        pass

    async def ping(self) -> None:
        """Raise when the shared channel cannot be reached; alone, there is none."""

    async def hold_lease(self, name: str, ttl_seconds: float) -> bool:
        """Take or renew the lease `name` for `ttl_seconds`; answer whether this process holds it.

        For work one process of the cluster should do while the others stand by: call it again
        well within `ttl_seconds` (every third of it, say) to keep the lease, and do the work only
        while it answers True. A process that stops calling (it died, or hangs) loses the lease
        when it expires, and the next process to ask gets it. Alone, this process always holds it;
        while Redis is unreachable every process answers True: duplicated work beats none.

        As a claim on one piece of work several processes see at once (an upstream's notification
        each of them heard), a lease of about a second makes the first to ask its only doer for
        that window: the holder asking again within it renews and answers True (a later distinct
        piece is its to do too), any other process answers False until it expires unrenewed."""
        return True

    async def release_lease(self, name: str) -> None:
        """Give the lease `name` up if this process holds it (at shutdown: the next process to
        ask takes it at once instead of after its ttl). Alone, there is nothing to give up."""


class RedisCluster(Cluster):
    """Processes sharing one Redis: events on one channel, session states as expiring keys."""

    shared = True

    def __init__(self, redis_url: str, prefix: str):
        self.redis_url = redis_url
        self.prefix = prefix
        self.channel = f"{prefix}:events"
        self.sender = secrets.token_hex(8)
        # What a lease key holds: unique to this process, and telling an operator whose it is.
        self.holder = f"{socket.gethostname()}/{os.getpid()}/{self.sender}"
        self.redis = None
        self._listener: asyncio.Task | None = None
        self._lease_scripts = None
        self._leases_unreachable = False

    async def connect(self) -> None:
        from redis import asyncio as aioredis  # the `redis` extra; only with CACHE_TYPE=redis

        self.redis = aioredis.from_url(self.redis_url, socket_connect_timeout=CONNECT_SECONDS)

    async def start(self, on_event: OnEvent) -> None:
        await self.connect()
        subscribed = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(on_event, subscribed))
        try:
            await asyncio.wait_for(subscribed.wait(), START_SECONDS)  # later changes reach this process
        except TimeoutError:
            await self.stop()
            raise ClusterUnavailable(
                f"cannot subscribe to Redis at REDIS_URL within {START_SECONDS:g} s (CACHE_TYPE=redis shares "
                "catalog changes and sessions through it)"
            ) from None

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self.redis is not None:
            await self.redis.aclose()

    async def publish(self, event: dict) -> None:
        try:
            await self.redis.publish(self.channel, orjson.dumps({**event, "from": self.sender}))
        except Exception as error:  # noqa: BLE001 - the write is committed; the others catch up on reconnect
            log.warning("could not tell the other Forge processes of a change: %s", error)

    async def _listen(self, on_event: OnEvent, subscribed: asyncio.Event) -> None:
        first, lost = True, False
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    subscribed.set()
                    if lost:
                        log.warning("Redis subscription back: reloading the catalog, sharing again")
                    if not first:  # events published while this process was away are lost
                        await on_event({"type": "reload"})
                    first, lost = False, False
                    async for message in pubsub.listen():
                        await self._deliver(on_event, message)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure of the connection: retry
                # Once per outage: this process serves on alone (its own catalog and sessions).
                (log.debug if lost else log.warning)(
                    "Redis subscription lost (%s); serving from this process's own state, retrying every %gs",
                    error, RECONNECT_SECONDS,
                )
                lost = True
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _deliver(self, on_event: OnEvent, message: dict) -> None:
        if message.get("type") != "message":
            return
        try:
            event = orjson.loads(message["data"])
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict) or event.get("from") == self.sender:
            return
        try:
            await on_event(event)  # one at a time, in order: a later change is applied last
        except Exception:
            log.exception("could not apply a change another Forge process made: %s", event.get("type"))

    # --- handshake-era sessions ---

    def _session_key(self, session_id: str) -> str:
        return f"{self.prefix}:session:{session_id}"

    # Without Redis, sessions live on in the process holding them (as with CACHE_TYPE=memory):
    # a failed read finds no session elsewhere, a failed write is logged and skipped.

    async def load_session(self, session_id: str) -> dict | None:
        try:
            data = await self.redis.get(self._session_key(session_id))
        except Exception as error:  # noqa: BLE001 - Redis unreachable: no session elsewhere
            log.warning("could not look up MCP session %s… in Redis: %s", session_id[:8], error)
            return None
        return orjson.loads(data) if data else None

    async def save_session(self, session_id: str, state: dict, ttl_seconds: float) -> None:
        try:
            await self.redis.set(self._session_key(session_id), orjson.dumps(state), ex=max(1, int(ttl_seconds)))
        except Exception as error:  # noqa: BLE001 - Redis unreachable: the session stays in this process
            log.warning("could not share MCP session %s… through Redis: %s", session_id[:8], error)
            return
        await self.publish({"type": "session", "id": session_id, "state": state})

    async def touch_session(self, session_id: str, ttl_seconds: float) -> None:
        try:
            await self.redis.expire(self._session_key(session_id), max(1, int(ttl_seconds)))
        except Exception as error:  # noqa: BLE001 - Redis unreachable: the key expires a little early
            log.warning("could not extend MCP session %s… in Redis: %s", session_id[:8], error)

    async def delete_session(self, session_id: str) -> None:
        try:
            await self.redis.delete(self._session_key(session_id))
        except Exception as error:  # noqa: BLE001 - Redis unreachable: the key expires on its own
            log.warning("could not end MCP session %s… in Redis: %s", session_id[:8], error)
            return
        await self.publish({"type": "session", "id": session_id, "state": None})

    async def ping(self) -> None:
        """Raise when Redis cannot be reached (what /ready reports)."""
        await self.redis.ping()

    # --- leases ---

    def _lease_key(self, name: str) -> str:
        return f"{self.prefix}:lease:{name}"

    def _scripts(self):
        """The lease scripts, loaded into Redis on first use (redis-py runs them by digest)."""
        if self._lease_scripts is None:
            register = self.redis.register_script
            self._lease_scripts = (register(HOLD_LEASE), register(RELEASE_LEASE))
        return self._lease_scripts

    async def hold_lease(self, name: str, ttl_seconds: float) -> bool:
        hold, _ = self._scripts()
        ttl_ms = max(1, int(ttl_seconds * 1000))
        try:
            async with asyncio.timeout(CONNECT_SECONDS):  # a Redis that hangs is one that is down
                held = await hold(keys=[self._lease_key(name)], args=[self.holder, ttl_ms])
        except Exception as error:  # noqa: BLE001 - Redis unreachable: every process does the work
            if not self._leases_unreachable:  # once per outage
                log.warning(
                    "could not reach Redis for the lease %r (%s): this process does that work too "
                    "until it is back", name, error,
                )
            self._leases_unreachable = True
            return True
        if self._leases_unreachable:
            log.warning("Redis back: the lease %r is shared again", name)
            self._leases_unreachable = False
        return bool(held)

    async def release_lease(self, name: str) -> None:
        if self._lease_scripts is None:
            return  # never asked for one
        _, release = self._scripts()
        try:
            await release(keys=[self._lease_key(name)], args=[self.holder])
        except Exception as error:  # noqa: BLE001 - the lease expires on its own
            log.warning("could not give up the lease %r in Redis: %s", name, error)


def cluster_for(settings) -> Cluster:
    """RedisCluster with CACHE_TYPE=redis (workers and replicas share it), else a lone Cluster."""
    if settings.cache_type == "redis":
        return RedisCluster(settings.redis_url, settings.redis_prefix)
    return Cluster()
