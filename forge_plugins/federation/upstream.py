"""One federated gateway at run time: its connection, kept open and reopened, and its calls.

Layer: plugin, between `federation` (which holds one `Upstream` per enabled gateway and records
what happens to it) and the connectors (`forge_upstream_connectors`). A supervisor task connects,
imports the catalog, then watches the upstream (its list changes; the end of the connection);
when the connection ends it reconnects with backoff, which for a stdio upstream is a restart of
the process. Calls go through `call`: FEDERATION_TIMEOUT per request, one retry for requests
that only read, and a circuit breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from forge.mcp.jsonrpc import McpError
from forge_plugins.federation.breaker import Breaker, CircuitOpen
from forge_plugins.federation.importer import SelfLoop
from forge_plugins.federation.wire import LIST_CHANGED, MODERN, AnswerTooLarge, UpstreamUnavailable

log = logging.getLogger("forge.federation")

# How long the first process of a cluster to hear an upstream's resources/updated for a URI goes
# on relaying it alone (`Upstream._relay_update`): long enough for the other processes connected
# to the same upstream to hear the same notification and drop it.
RELAY_WINDOW_SECONDS = 1.0
LONGEST_URI_IN_KEY = 200  # a longer URI is named by its hash in the lease's key


class UpstreamFailure(Exception):
    """A call could not be served by the upstream: not connected, unreachable, too slow, or its
    circuit is open. The message names the gateway and says which."""


class NoConnector(Exception):
    """No installed plugin connects this gateway's transport."""


class Upstream:
    def __init__(self, federation, record: Mapping[str, Any]):
        self.federation = federation
        self.record = dict(record)
        self.session = None
        settings = federation.settings
        self.breaker = Breaker(settings.breaker_threshold, settings.breaker_reset)
        self.timeout = federation.timeout
        self._task: asyncio.Task | None = None
        self._attempted = asyncio.Event()
        # Set by the federation when this process answers the API request that opened this
        # gateway: its first attempt is recorded here even on a follower (`Federation.writes_for`).
        self.answering = False
        self._reconnect = asyncio.Event()
        self.sync_lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def id(self) -> str:
        return self.record["id"]

    # --- the connection -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"federation:{self.name}")

    async def first_attempt(self, timeout: float) -> None:
        """Wait until the first connection attempt has succeeded or failed (at most `timeout`)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._attempted.wait()

    async def stop(self) -> None:
        tasks = [task for task in (self._task, *self._background) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.session = None

    def reconnect(self) -> None:
        self._reconnect.set()

    async def _supervise(self) -> None:
        delay = 1.0
        while True:
            error: BaseException | None = None
            try:
                connect = self.federation.connector_for(self.record)
                started = time.perf_counter()
                async with connect(self.record) as session:
                    self.session = session
                    delay = 1.0
                    await self.federation.connected(self, (time.perf_counter() - started) * 1000)
                    self._attempt_over()
                    error = await self._watch(session)
            except asyncio.CancelledError:
                raise
            except (SelfLoop, NoConnector) as permanent:
                self.session = None
                await self.federation.lost(self, str(permanent))
                self._attempt_over()
                return  # retrying cannot help
            except Exception as failure:  # any failure to connect or import: recorded, then retried
                log.debug("gateway %r: connection failed", self.name, exc_info=True)
                error = failure
            self.session = None
            await self.federation.lost(self, describe(error))
            self._attempt_over()
            await asyncio.sleep(delay)
            delay = min(delay * 2, max(1.0, self.federation.settings.health_interval))

    def _attempt_over(self) -> None:
        self.answering = False
        self._attempted.set()

    async def _watch(self, session) -> BaseException:
        """Run until the connection ends or a failed health check asks for a new one."""
        self._reconnect.clear()
        watcher = asyncio.create_task(session.watch(self._changed))
        asked = asyncio.create_task(self._reconnect.wait())
        try:
            await asyncio.wait({watcher, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watcher, asked):
                task.cancel()
            await asyncio.gather(watcher, asked, return_exceptions=True)
        if asked.done() and not asked.cancelled():
            return UpstreamUnavailable("the health check failed")
        if watcher.cancelled():
            return UpstreamUnavailable("the connection ended")
        return watcher.exception() or UpstreamUnavailable("the connection ended")

    async def _changed(self, message: dict) -> None:
        """The upstream said something changed; act on it off the session's reading path."""
        method = message.get("method")
        if method == "notifications/resources/updated":
            uri = (message.get("params") or {}).get("uri")
            if isinstance(uri, str):
                self._spawn(self._relay_update(uri))
        elif method in LIST_CHANGED and self.federation.leading:  # followers hear of the leader's sync
            self._spawn(self.sync(announce={LIST_CHANGED[method]}))

    async def _relay_update(self, uri: str) -> None:
        """Relay the upstream's resources/updated for `uri` (this process's subscribers, and the
        other processes' through the cluster event `Gateway.resource_updated` publishes) unless
        another process of the cluster is relaying it: every process connected to this upstream
        may hear the same notification, and each relaying it would notify every subscriber once
        per process.

        The first process to hear it takes the lease named by this gateway and `uri` for
        RELAY_WINDOW_SECONDS; while it holds it, it relays every update of `uri` it hears (a second
        update from the same connection is a distinct one) and renews the lease, and the others
        drop theirs: their subscribers hear the holder's cluster event. Alone, or while Redis is
        unreachable, `hold_lease` answers True and every process relays: a duplicate beats a
        lost notification."""
        gateway = self.federation.gateway
        if not await gateway.cluster.hold_lease(relay_lease(self.id, uri), RELAY_WINDOW_SECONDS):
            log.debug("gateway %r: %s updated, relayed by another Forge process", self.name, uri)
            return
        await gateway.resource_updated(uri)

    def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- catalog and health ---------------------------------------------------------------------

    async def sync(self, announce: set[str] = frozenset()) -> None:
        """Re-import the catalog; `announce` names lists to announce as changed even if the import
        finds no difference (the upstream said so, and its clients may know better)."""
        async with self.sync_lock:
            session = self.session
            if session is None:
                return
            try:
                await self.federation.import_catalog(self, session, announce=set(announce))
            except (UpstreamUnavailable, TimeoutError, McpError) as error:
                log.warning("sync of gateway %r failed: %s", self.name, describe(error))

    async def check(self) -> None:
        """One health check: server/discover (2026-07-28) or ping; a failure reconnects."""
        session = self.session
        if session is None:
            return  # the supervisor is connecting or waiting to
        started = time.perf_counter()
        try:
            await session.request(
                "server/discover" if session.protocol_version == MODERN else "ping", {}, timeout=self.timeout
            )
        except McpError:
            pass  # it answered: alive, even if it does not serve that method
        except (UpstreamUnavailable, TimeoutError) as error:
            await self.federation.lost(self, f"health check failed: {describe(error)}")
            self.reconnect()
            return
        await self.federation.seen(self, (time.perf_counter() - started) * 1000)

    # --- calls ----------------------------------------------------------------------------------

    async def call(
        self, method: str, params: dict, invocation, *, reads: bool, headers=None, held=None
    ) -> dict:
        """One request upstream for `invocation` (None outside MCP): notifications relayed to its
        client, and the upstream's own requests asked of it (a handshake-era client) or of `held`
        (a `held.HeldCall`, for a 2026-07-28 client). Raises McpError for the upstream's JSON-RPC
        error, UpstreamFailure when it cannot answer."""
        relayed = relays(invocation)
        if held is not None:
            relayed.update(on_notification=held.relay, on_request=held.ask)
        attempts = 2 if reads else 1
        for attempt in range(attempts):
            session = self.session
            if session is None:
                state = self.record.get("last_error") or "not connected"
                raise UpstreamFailure(f"upstream {self.name!r} is unavailable: {state}")
            try:
                self.breaker.check()
            except CircuitOpen as open_circuit:
                raise UpstreamFailure(f"upstream {self.name!r} is not being called: {open_circuit}") from None
            try:
                result = await session.request(
                    method, params, headers=headers, timeout=self.timeout, **relayed
                )
            except McpError:
                self.breaker.succeeded()
                raise
            except TimeoutError:
                if held is not None and held.waiting is not None:  # its client's answer is what is late
                    self.breaker.abandoned()
                    raise UpstreamFailure(
                        f"the client did not answer upstream {self.name!r}'s {held.waiting.method} "
                        f"within {self.timeout:g} s"
                    ) from None
                self.breaker.failed()
                raise UpstreamFailure(
                    f"upstream {self.name!r} did not answer {method} within {self.timeout:g} s"
                ) from None
            except AnswerTooLarge as error:
                self.breaker.succeeded()  # it answered: too much, which asking again will not change
                raise UpstreamFailure(f"upstream {self.name!r} answered {method}, but {error}") from None
            except UpstreamUnavailable as error:
                self.breaker.failed()
                if attempt + 1 < attempts:
                    continue
                raise UpstreamFailure(f"upstream {self.name!r} is unreachable: {error}") from None
            except BaseException:  # the client left (cancelled), or worse: this call proved nothing
                self.breaker.abandoned()
                raise
            self.breaker.succeeded()
            return result
        raise AssertionError("unreachable")


def relays(invocation) -> dict:
    """How a request for `invocation` reaches back to its client: the client's capabilities and
    log level travel upstream; notifications and (handshake era) requests come back."""
    if invocation is None:
        return {}
    log_level = invocation.log_level
    if not invocation.modern and log_level is None:
        log_level = "debug"  # a handshake-era client that set no level hears what the upstream says
    return {
        "capabilities": dict(invocation.client_capabilities or {}),
        "log_level": log_level,
        "on_notification": invocation.notify,
        "on_request": invocation.ask,
    }


def relay_lease(gateway_id: str, uri: str) -> str:
    """The lease of relaying `uri`'s updates from the gateway `gateway_id`: the URI itself while it
    is short, else its SHA-256, so the Redis key stays bounded."""
    if len(uri) > LONGEST_URI_IN_KEY:
        uri = "sha256:" + hashlib.sha256(uri.encode()).hexdigest()
    return f"resource-updated:{gateway_id}:{uri}"


def describe(error: BaseException | None) -> str:
    if error is None:
        return "the connection ended"
    if isinstance(error, McpError):
        return f"{error.message} ({error.code})"
    text = str(error)
    return text if text else type(error).__name__
