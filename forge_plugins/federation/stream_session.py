"""An upstream reached over one long-lived message channel: stdio, HTTP+SSE, or a handshake-era
Streamable HTTP session, through the official SDK's client transports.

Layer: plugin upstream session (the `forge.contracts.UpstreamSession` of the stdio and sse
connectors, and the fallback of streamable_http), below the forwarding adapter. The SDK transport
hands over a pair of message streams; this module multiplexes raw JSON-RPC over them itself (no
SDK `ClientSession`), so results reach the client exactly as the upstream sent them.

It speaks the handshake era (`initialize`), whose server-to-client requests this duplex channel
carries, and 2026-07-28 only to an upstream that refuses `initialize` but answers server/discover.
Everything shares one channel, so what the upstream sends that is not a response has to be
routed: a progress notification goes to the request whose token it carries (tokens are made
unique per request on the way up and restored on the way back); a log message, and a
server-to-client request (sampling, elicitation, roots: asked of a handshake-era client, or held
for a 2026-07-28 one, see `held`), go to the oldest request in flight that can take one — exact
when one call is in flight, a best guess when several are, which only a per-request channel
(Streamable HTTP in 2026-07-28) avoids.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import anyio
from mcp.shared.message import SessionMessage
from mcp.types import jsonrpc_message_adapter

from forge.mcp.jsonrpc import INTERNAL_ERROR, METHOD_NOT_FOUND, McpError
from forge_plugins.federation.wire import (
    HANDSHAKE,
    LIST_CHANGED,
    MODERN,
    RELAYED_CAPABILITIES,
    UpstreamUnavailable,
    answer_of,
    handshake_params,
    modern_params,
)

log = logging.getLogger("forge.federation")
Notify = Callable[[dict], Awaitable[None]]
Ask = Callable[[str, dict], Awaitable[dict]]


@dataclass
class _Pending:
    answer: asyncio.Future
    on_notification: Notify | None = None
    on_request: Ask | None = None
    progress_token: Any = None
    wants_logs: bool = False
    order: int = 0
    listen: bool = False
    extra: dict = field(default_factory=dict)


class StreamSession:
    """JSON-RPC over an SDK transport's (read, write) streams; use as an async context manager."""

    def __init__(
        self, read_stream, write_stream, *, info: Mapping[str, Any], timeout: float, try_modern: bool = True
    ):
        self.read_stream = read_stream
        self.write_stream = write_stream
        self.info = dict(info)
        self.timeout = timeout
        self.try_modern = try_modern
        self.protocol_version = MODERN if try_modern else HANDSHAKE
        self.server: dict = {}
        self._ids = itertools.count(1)
        self._pending: dict[Any, _Pending] = {}
        self._reader: asyncio.Task | None = None
        self._closed = asyncio.Event()
        self._on_change: Notify | None = None
        self._sending: set[asyncio.Task] = set()

    async def __aenter__(self) -> Self:
        self._reader = asyncio.create_task(self._read())
        try:
            await self._negotiate()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._closed.set()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._fail_pending(UpstreamUnavailable("the connection to the upstream closed"))

    async def _negotiate(self) -> None:
        """The handshake era first: on this duplex channel it lets the upstream ask the client
        mid-call, where a 2026-07-28 request has no back-channel (the SDK refuses `ctx.elicit()`
        there). An upstream that refuses `initialize` is spoken to in 2026-07-28 if it can be."""
        self.protocol_version = HANDSHAKE
        try:
            self.server = await self._call(
                "initialize",
                {"protocolVersion": HANDSHAKE, "capabilities": RELAYED_CAPABILITIES, "clientInfo": self.info},
                _Pending(asyncio.get_running_loop().create_future()),
                self.timeout,
            )
        except McpError:
            if not self.try_modern:
                raise
            self.protocol_version = MODERN
            self.server = await self.request("server/discover", {}, timeout=self.timeout)
            if MODERN not in (self.server.get("supportedVersions") or ()):
                raise
            return
        self.protocol_version = self.server.get("protocolVersion") or HANDSHAKE
        await self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    # --- requests -------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        capabilities: Mapping[str, Any] | None = None,
        log_level: str | None = None,
        headers: Mapping[str, str] | None = None,  # no headers on a message channel
        on_notification: Notify | None = None,
        on_request: Ask | None = None,
        timeout: float | None = None,
    ) -> dict:
        if self.protocol_version == MODERN:
            params = modern_params(params, self.info, capabilities, log_level)
        else:
            params = handshake_params(params)
        pending = _Pending(
            asyncio.get_running_loop().create_future(),
            on_notification=on_notification,
            on_request=on_request,
            wants_logs=on_notification is not None and log_level is not None,
        )
        meta = params.get("_meta") or {}
        if "progressToken" in meta:  # made unique on this shared channel, restored on the way back
            pending.progress_token = meta["progressToken"]
            params = {**params, "_meta": {**meta, "progressToken": f"forge-progress-{next(self._ids)}"}}
            pending.extra["token"] = params["_meta"]["progressToken"]
        return await self._call(method, params, pending, timeout)

    async def _call(self, method: str, params: dict, pending: _Pending, timeout: float | None) -> dict:
        if self._closed.is_set():
            raise UpstreamUnavailable("the connection to the upstream is closed")
        request_id = next(self._ids)
        pending.order = request_id
        self._pending[request_id] = pending
        try:
            await self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            async with asyncio.timeout(timeout):
                return answer_of(await pending.answer)
        except (TimeoutError, asyncio.CancelledError) as stopped:
            # Tell the upstream to stop working on it, without waiting here for the channel.
            reason = "timed out" if isinstance(stopped, TimeoutError) else "cancelled by the client"
            cancel = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": reason},
            }
            task = asyncio.create_task(self._send(cancel))
            self._sending.add(task)
            task.add_done_callback(self._finish_send)
            raise
        finally:
            self._pending.pop(request_id, None)

    def _finish_send(self, task: asyncio.Task) -> None:
        self._sending.discard(task)
        if not task.cancelled():
            task.exception()  # a cancel that could not be sent: the upstream is gone anyway

    async def _send(self, message: dict) -> None:
        try:
            await self.write_stream.send(SessionMessage(jsonrpc_message_adapter.validate_python(message)))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as error:
            raise UpstreamUnavailable(f"cannot write to the upstream: {type(error).__name__}") from None

    # --- what the upstream sends ----------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for item in self.read_stream:
                if isinstance(item, Exception):
                    log.debug("upstream transport reported %r", item)
                    continue
                message = item.message.model_dump(by_alias=True, exclude_unset=True)
                if "method" not in message:
                    self._resolve(message)
                elif "id" in message:
                    asyncio.create_task(self._answer_request(message))
                else:
                    await self._notification(message)
        except Exception:  # the channel broke: every request in flight fails below
            log.debug("reading from the upstream failed", exc_info=True)
        finally:
            self._closed.set()
            self._fail_pending(UpstreamUnavailable("the upstream closed the connection"))

    def _resolve(self, message: dict) -> None:
        pending = self._pending.get(message.get("id"))
        if pending is not None and not pending.answer.done():
            pending.answer.set_result(message)

    def _fail_pending(self, error: Exception) -> None:
        for pending in list(self._pending.values()):
            if not pending.answer.done():
                pending.answer.set_exception(error)

    def _oldest(self, wanted: Callable[[_Pending], bool]) -> _Pending | None:
        candidates = [p for p in self._pending.values() if wanted(p)]
        return min(candidates, key=lambda p: p.order) if candidates else None

    async def _notification(self, message: dict) -> None:
        method, params = message["method"], message.get("params") or {}
        if method in LIST_CHANGED or method == "notifications/resources/updated":
            if self._on_change is not None:
                await self._on_change(message)
            return
        if method == "notifications/progress":
            token = params.get("progressToken")
            pending = next((p for p in self._pending.values() if p.extra.get("token") == token), None)
            if pending is not None and pending.on_notification is not None:
                restored = {**message, "params": {**params, "progressToken": pending.progress_token}}
                await pending.on_notification(restored)
            return
        if method == "notifications/message":
            pending = self._oldest(lambda p: p.wants_logs)
            if pending is not None:
                await pending.on_notification(message)

    async def _answer_request(self, message: dict) -> None:
        """A server-to-client request (handshake era): asked of the client behind a call in flight."""
        method, request_id = message["method"], message["id"]
        try:
            if method == "ping":
                result: dict = {}
            else:
                # A call already waiting on its client's answer is not the one asking again.
                pending = self._oldest(lambda p: p.on_request is not None and not p.extra.get("asking"))
                pending = pending or self._oldest(lambda p: p.on_request is not None)
                if pending is None:
                    raise McpError(METHOD_NOT_FOUND, f"no client is in a call that could answer {method}")
                pending.extra["asking"] = pending.extra.get("asking", 0) + 1
                try:
                    result = await pending.on_request(method, message.get("params") or {})
                finally:
                    pending.extra["asking"] -= 1
            reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
        except McpError as error:
            reply = {"jsonrpc": "2.0", "id": request_id, "error": error.to_error()}
        except Exception as error:  # the client's answer failed: the upstream hears why
            log.debug("answering the upstream's %s failed", method, exc_info=True)
            reply = {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": INTERNAL_ERROR, "message": str(error)},
            }
        with contextlib.suppress(UpstreamUnavailable):
            await self._send(reply)

    # --- list changes ---------------------------------------------------------------------------

    async def watch(self, on_change: Notify) -> None:
        """Hand list changes to `on_change` until the connection ends (then raise). In 2026-07-28 a
        `subscriptions/listen` request is held open; in the handshake era they simply arrive."""
        self._on_change = on_change
        listen = None
        if self.protocol_version == MODERN:
            params = modern_params(
                {
                    "notifications": {
                        "toolsListChanged": True,
                        "promptsListChanged": True,
                        "resourcesListChanged": True,
                    }
                },
                self.info,
                {},
                None,
            )
            listen = asyncio.create_task(
                self._call(
                    "subscriptions/listen",
                    params,
                    _Pending(asyncio.get_running_loop().create_future(), listen=True),
                    None,
                )
            )
        try:
            await self._closed.wait()
        finally:
            if listen is not None:
                listen.cancel()
                with contextlib.suppress(BaseException):
                    await listen
        raise UpstreamUnavailable("the upstream closed the connection")
