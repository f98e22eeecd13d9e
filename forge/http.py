"""Plain-ASGI helpers for the MCP hot path: headers, bodies, JSON answers, SSE streams, Origin.

Layer: transports' toolbox, below every HTTP transport (Streamable HTTP, SSE) and above the ASGI
server. Nothing here knows MCP; it only moves bytes the lean way (orjson, no request objects).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from asyncio import FIRST_COMPLETED
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, urlsplit

import orjson

from forge.contracts import Credentials

# nosniff: a browser never takes an answer for anything but what its content type says.
JSON_HEADERS = [(b"content-type", b"application/json"), (b"x-content-type-options", b"nosniff")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class BodyTooLarge(Exception):
    pass


def header_map(scope: dict) -> dict[str, str]:
    """Request headers, names lower-cased (ASGI already does) and values decoded as latin-1."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def credentials(scope: dict, headers: Mapping[str, str]) -> Credentials:
    """The credentials of a request to an MCP endpoint; `resource` is the endpoint's URL. Behind a
    trusted proxy the scope already names the real client, scheme and host (`forge.forwarded`)."""
    raw_query = scope.get("query_string")
    query = dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {}
    client = scope.get("client")
    return Credentials(
        headers=headers,
        query=query,
        client_address=client[0] if client else None,
        resource=endpoint_url(scope, headers),
    )


def endpoint_url(scope: dict, headers: Mapping[str, str]) -> str:
    """The URL the client reached, as http(s) even for a WebSocket (APP_ROOT_PATH included)."""
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    host = headers.get("host", "")
    if not _HOST.fullmatch(host):  # missing, or not a host name: never echo it into a URL
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}{quote(scope.get('root_path', '') + scope['path'])}"


def encode_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """ASGI's header pairs (lower-case names, latin-1 bytes) for a {name: value} mapping."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


async def read_body(receive, limit: int) -> bytes:
    """The whole request body; raises `BodyTooLarge` past `limit` bytes without reading the rest."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def discard_body(receive, limit: int) -> None:
    """Read and drop an unread request body of at most `limit` bytes, before an error answer: a
    server that closes a connection with the body unread makes the kernel reset it, and the client
    can lose the answer with it. A larger body is left unread (the answer says Connection: close)."""
    with contextlib.suppress(BodyTooLarge, ConnectionResetError):
        await read_body(receive, limit)


async def send_bytes(send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = JSON_HEADERS) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def send_json(send, status: int, payload, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send_bytes(send, status, orjson.dumps(payload), [*JSON_HEADERS, *extra_headers])


def accepts(headers: Mapping[str, str], media_type: str) -> bool:
    accept = headers.get("accept", "*/*")
    return media_type in accept or "*/*" in accept


def origin_allowed(headers: Mapping[str, str], allowed: Iterable[str]) -> bool:
    """Browsers send Origin; only loopback origins and the configured ones may call (DNS rebinding)."""
    origin = headers.get("origin")
    if origin is None:  # not a browser
        return True
    if origin in allowed:
        return True
    host = urlsplit(origin).hostname
    return host is not None and host in LOOPBACK_HOSTS


class SseStream:
    """An open `text/event-stream` response: events out, keep-alive comments, disconnect watch."""

    def __init__(self, send, receive):
        self._send = send
        self._receive = receive
        self.started = False
        self.disconnected = asyncio.Event()

    async def start(self, status: int = 200, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await self._send({"type": "http.response.start", "status": status, "headers": [*SSE_HEADERS, *extra_headers]})
        self.started = True

    async def event(self, message, event_id: int | str | None = None) -> None:
        frame = b"event: message\n"
        if event_id is not None:
            frame += b"id: " + str(event_id).encode() + b"\n"
        frame += b"data: " + orjson.dumps(message) + b"\n\n"
        await self._send({"type": "http.response.body", "body": frame, "more_body": True})

    async def text_event(self, name: str, data: str) -> None:
        """An event whose data is one line of plain text (the legacy SSE transport's `endpoint`)."""
        frame = f"event: {name}\ndata: {data}\n\n".encode()
        await self._send({"type": "http.response.body", "body": frame, "more_body": True})

    async def comment(self, text: str = "ping") -> None:
        await self._send({"type": "http.response.body", "body": f": {text}\n\n".encode(), "more_body": True})

    async def close(self) -> None:
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def pump(self, next_message, keepalive: float) -> None:
        """Write what `next_message()` answers (a message, or an (event id, message) pair) until it
        answers None or the client leaves; a comment goes out after `keepalive` idle seconds."""
        watcher = asyncio.create_task(self.watch_disconnect())
        gone = asyncio.ensure_future(self.disconnected.wait())
        waiter = None
        try:
            while not self.disconnected.is_set():
                waiter = waiter or asyncio.ensure_future(next_message())
                await asyncio.wait({waiter, gone}, timeout=keepalive, return_when=FIRST_COMPLETED)
                if waiter.done():
                    item, waiter = waiter.result(), None
                    if item is None:
                        break
                    event_id, message = item if isinstance(item, tuple) else (None, item)
                    await self.event(message, event_id)
                elif not gone.done():
                    await self.comment()
        except (ConnectionResetError, OSError):
            pass
        finally:
            for task in (watcher, gone, waiter):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(Exception):
                await self.close()

    async def watch_disconnect(self) -> None:
        """Run as a task: sets `disconnected` when the client goes away."""
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return
