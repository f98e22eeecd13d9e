"""An upstream spoken to in the stateless 2026-07-28 revision over HTTP, with aiohttp.

Layer: plugin upstream session (the `forge.contracts.UpstreamSession` of the streamable_http
connector), below the forwarding adapter. Every request is one POST carrying its own `_meta`, so
one pooled keep-alive client serves every downstream client at once, and whatever the upstream
sends on a POST's answer stream (progress, log messages) belongs to that request and no other.
List changes come from a held `subscriptions/listen` stream (`watch`).

The client is aiohttp's, as the REST adapter's: with httpx's pool, a federated tools/call cost
Forge 2-5 times the CPU of a REST tool call and got slower as concurrency grew (bench/run.py, the
MCP-upstream rows).

What one answer can make Forge hold is capped at UPSTREAM_MAX_RESPONSE_BYTES (`max_answer_bytes`),
as a REST tool's answer is: a JSON answer's body (refused at once when its Content-Length says it
is larger, else as soon as that much has arrived), and on an SSE answer stream each line and each
event (one message). A stream as a whole is not capped: a POST's stream lasts at most its call's
timeout and its notifications are relayed as they come, and the listen stream (`watch`) is held
for hours. Past the cap the answer is dropped unread (its connection closed) and `AnswerTooLarge`
is raised, which names the setting; a federated call reports it as an upstream failure.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import orjson
from mcp.shared.inbound import encode_header_value

from forge.capped_read import read_capped
from forge.mcp.jsonrpc import INTERNAL_ERROR, McpError
from forge.outbound import OutboundPolicy, OutboundRefused
from forge_plugins.federation.wire import (
    LIST_CHANGED,
    MODERN,
    NAME_PARAM,
    AnswerTooLarge,
    UpstreamUnavailable,
    answer_of,
    modern_params,
    sse_messages,
)

Notify = Callable[[dict], Awaitable[None]]
LISTEN_FILTER = {"toolsListChanged": True, "promptsListChanged": True, "resourcesListChanged": True}
MAX_CONNECTIONS = 256  # open connections to one upstream; more concurrent calls wait for one
# An idle upstream connection is not reused after this: under the 5 s after which uvicorn,
# Hypercorn and Node close idle connections, so Forge never sends a call (a POST, which aiohttp
# does not retry) down a connection the upstream is closing at that moment.
KEEPALIVE_SECONDS = 4.0
MAX_ANSWER_BYTES = 16 * 2**20  # UPSTREAM_MAX_RESPONSE_BYTES's default; the connectors pass the setting


class NotModern(Exception):
    """The upstream does not speak 2026-07-28 (its server/discover failed or lists other versions)."""


class HttpSession:
    """One upstream URL, spoken to statelessly; `open()` discovers it, `close()` frees the pool."""

    protocol_version = MODERN

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        info: Mapping[str, Any],
        timeout: float,
        policy: OutboundPolicy | None = None,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: Mapping[str, Any] | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ):
        """`resolver` and `connector` (aiohttp TCPConnector options) are for tests; the policy
        guards whatever they are. `max_answer_bytes` is UPSTREAM_MAX_RESPONSE_BYTES."""
        self.url = url
        self.max_answer_bytes = max_answer_bytes
        self.info = dict(info)
        self.timeout = timeout
        self.server: dict = {}
        self._ids = itertools.count(1)
        self._closed = asyncio.Event()
        # Answer streams may be long (a listen stream is held for hours): each call is bounded by
        # its own `timeout`, only connecting by the client's.
        self.client = (policy or OutboundPolicy()).aiohttp_session(
            resolver=resolver,
            connector={"limit": MAX_CONNECTIONS, "keepalive_timeout": KEEPALIVE_SECONDS, **(connector or {})},
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout),
            raise_for_status=False,
        )

    async def open(self) -> None:
        try:
            self.server = await self.request("server/discover", {}, timeout=self.timeout)
        except McpError as error:
            raise NotModern(f"server/discover failed: {error.message}") from None
        if MODERN not in (self.server.get("supportedVersions") or ()):
            raise NotModern(f"the upstream speaks {self.server.get('supportedVersions')}, not {MODERN}")

    async def close(self) -> None:
        self._closed.set()
        await self.client.close()

    async def request(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        capabilities: Mapping[str, Any] | None = None,
        log_level: str | None = None,
        headers: Mapping[str, str] | None = None,
        on_notification: Notify | None = None,
        on_request=None,  # the stateless revision has no server-to-client requests
        timeout: float | None = None,
    ) -> dict:
        request_id = next(self._ids)
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": method,
            "params": modern_params(params, self.info, capabilities, log_level),
        }
        try:
            async with asyncio.timeout(timeout):
                async with self.client.post(
                    self.url, data=orjson.dumps(body), headers=self._headers(method, params, headers)
                ) as response:
                    return await self._answer(response, request_id, on_notification)
        except TimeoutError:
            raise
        except OutboundRefused as refused:
            raise UpstreamUnavailable(str(refused)) from None
        except (aiohttp.ClientError, ValueError) as error:  # ValueError: a URL or header aiohttp refuses
            raise UpstreamUnavailable(describe_failure(error)) from None

    def _headers(self, method: str, params: Mapping[str, Any], extra: Mapping[str, str] | None) -> dict:
        headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": MODERN,
            "mcp-method": method,
        }
        name = params.get(NAME_PARAM.get(method, ""))
        if isinstance(name, str):
            headers["mcp-name"] = encode_header_value(name)
        headers.update(extra or {})
        return headers

    async def _answer(
        self, response: aiohttp.ClientResponse, request_id: int, on_notification: Notify | None
    ) -> dict:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            limit = self.max_answer_bytes
            async for message in sse_messages(text_lines(response, limit), limit):
                if "method" not in message and message.get("id") == request_id:
                    return answer_of(message)
                if "method" in message and "id" not in message and on_notification is not None:
                    await on_notification(message)
            raise UpstreamUnavailable("the upstream ended its answer stream without answering")
        raw = await read_capped(response, self.max_answer_bytes, AnswerTooLarge)
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            message = None
        if isinstance(message, dict) and ("result" in message or "error" in message):
            return answer_of(message)
        if response.status >= 500:
            raise UpstreamUnavailable(f"the upstream answered HTTP {response.status}")
        raise McpError(
            INTERNAL_ERROR, f"the upstream answered HTTP {response.status} without a JSON-RPC answer"
        )

    async def watch(self, on_change: Notify) -> None:
        """Hold a `subscriptions/listen` stream and hand each change notification to `on_change`;
        return when the upstream ends it, raise `UpstreamUnavailable` when the connection breaks
        (`AnswerTooLarge` for one line or event over the cap; the stream's total is not capped).
        An upstream that cannot be listened to is watched by the health checks alone."""
        request_id = f"forge-listen-{next(self._ids)}"
        params = modern_params({"notifications": LISTEN_FILTER}, self.info, {}, None)
        body = {"jsonrpc": "2.0", "id": request_id, "method": "subscriptions/listen", "params": params}
        try:
            async with self.client.post(
                self.url, data=orjson.dumps(body), headers=self._headers("subscriptions/listen", {}, None)
            ) as response:
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    await read_capped(response, self.max_answer_bytes, AnswerTooLarge)
                    await self._closed.wait()  # refused: nothing to hold
                    return
                limit = self.max_answer_bytes
                async for message in sse_messages(text_lines(response, limit), limit):
                    if (
                        message.get("method") in LIST_CHANGED
                        or message.get("method") == "notifications/resources/updated"
                    ):
                        await on_change(message)
                    elif "method" not in message:
                        break  # the upstream closed the subscription (it is going away)
        except OutboundRefused as refused:
            raise UpstreamUnavailable(str(refused)) from None
        except (aiohttp.ClientError, ValueError) as error:
            if self._closed.is_set():
                return
            raise UpstreamUnavailable(f"the listen stream broke: {type(error).__name__}") from None
        if not self._closed.is_set():
            raise UpstreamUnavailable("the upstream closed its listen stream")


async def text_lines(response: aiohttp.ClientResponse, limit: int | None = None) -> AsyncIterator[str]:
    """The lines of an answer as text, without their line ends. Split here rather than by
    aiohttp's `readline`, which refuses a line over 128 KiB (an SSE `data:` line holding a large
    tool result is one line). A line longer than `limit` bytes raises `AnswerTooLarge` as soon as
    that much of it has arrived. Linear in the answer's size: each chunk is searched for line ends
    only where it was appended, and the lines handed out are cut off the buffer."""
    buffer = bytearray()
    async for chunk in response.content.iter_any():
        searched = len(buffer)  # what is before this has no line end
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", searched)) != -1:
            yield _line(buffer, start, _content_end(buffer, start, end), limit)
            start = searched = end + 1
        if start:
            del buffer[:start]
        if limit is not None and _content_end(buffer, 0, len(buffer)) > limit:  # a line still arriving
            raise AnswerTooLarge.over(limit, "a line of the upstream's answer stream")
    if buffer:
        yield _line(buffer, 0, _content_end(buffer, 0, len(buffer)), limit)


def _content_end(buffer: bytearray, start: int, end: int) -> int:
    """Where the line from `start` to a line end at `end` stops, a CRLF's CR left out."""
    return end - 1 if end > start and buffer[end - 1] == 0x0D else end


def _line(buffer: bytearray, start: int, end: int, limit: int | None) -> str:
    if limit is not None and end - start > limit:
        raise AnswerTooLarge.over(limit, "a line of the upstream's answer stream")
    return buffer[start:end].decode("utf-8", errors="replace")


def describe_failure(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
