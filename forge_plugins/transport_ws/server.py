"""MCP over WebSocket, served: one JSON-RPC message per text frame, in both directions.

Layer: transport, a plain ASGI handler mounted in front of Quart; below it a
`forge.mcp.channel.Channel` per socket, which hands messages to the engine. No database read
happens here.

The handshake selects the subprotocol `mcp` when the client offers it. A socket is a session: it
opens when the handshake is accepted and closes with the socket, cancelling its requests in flight.
Answers, request-scoped notifications and the session's server-initiated messages go back as text
frames. The credential the socket opened with is re-checked on every frame and periodically
(`forge.mcp.revalidation`): once revoked or expired, the socket closes with 1008. A frame that is
not JSON-RPC is answered with a JSON-RPC error and the socket stays open; a frame over
MAX_BODY_BYTES closes it with 1009. Pings are the ASGI server's business (Hypercorn answers them;
`websocket_ping_interval` sends its own).

Credentials: the Authorization header, as on every transport. Browsers cannot set headers on a
WebSocket, so a bearer token may instead be offered as a subprotocol `bearer.<token>` next to
`mcp` (preferred: it stays out of URLs and access logs) or passed as the query parameter `token`;
either becomes `Authorization: Bearer <token>` for the authentication plugins. A refused handshake
is answered with an HTTP status (401, 403, 404) where the server supports the
`websocket.http.response` extension, and with close code 1008 where it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from forge import http
from forge.auth import AuthenticationFailed, NotAllowed, mcp_principal
from forge.contracts import Credentials
from forge.mcp import jsonrpc
from forge.mcp.channel import Channel
from forge.mcp.jsonrpc import INVALID_REQUEST, McpError
from forge.mcp.revalidation import CREDENTIAL_GONE

SUBPROTOCOL = "mcp"
TOKEN_SUBPROTOCOL = "bearer."
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009


class Refused(Exception):
    """The handshake is refused with this HTTP status (or close 1008 without the extension)."""

    def __init__(self, status: int, message: str, headers=()):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, list(headers)


class Socket:
    """The sending half of an accepted WebSocket: one frame at a time, nothing after the close."""

    def __init__(self, send):
        self._send = send
        self._lock = asyncio.Lock()
        self.closed = False

    async def text(self, message: dict) -> None:
        async with self._lock:
            if not self.closed:
                await self._send({"type": "websocket.send", "text": jsonrpc.encode(message).decode()})

    async def close(self, code: int, reason: str = "") -> None:
        async with self._lock:
            if not self.closed:
                self.closed = True
                await self._send({"type": "websocket.close", "code": code, "reason": reason})


class WebSocketTransport:
    def __init__(self, gateway):
        self.gateway = gateway

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            body = {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": INVALID_REQUEST, "message": "Upgrade Required: open a WebSocket"},
            }
            await http.send_json(send, 426, body, [(b"upgrade", b"websocket")])
            return
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            principal, server_id = await self._admit(scope)
        except Refused as refusal:
            await self._refuse(scope, send, refusal)
            return
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": SUBPROTOCOL if SUBPROTOCOL in scope.get("subprotocols", ()) else None,
            }
        )
        socket = Socket(send)
        channel = Channel(self.gateway.engine, principal, server_id, transport="websocket")
        writer = asyncio.create_task(self._write(channel, socket))
        try:
            await self._read(channel, socket, receive)
        finally:
            await channel.close()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _read(self, channel: Channel, socket: Socket, receive) -> None:
        """Hand each frame to the channel until the client leaves or breaks the size limit."""
        limit = self.gateway.settings.max_body_bytes
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                socket.closed = True
                return
            if event["type"] != "websocket.receive":
                continue
            text = event.get("text")
            if too_big(text, event.get("bytes"), limit):
                await socket.close(CLOSE_TOO_BIG, f"message larger than {limit} bytes")
                return
            try:
                message = decode_frame(text)
            except McpError as failure:
                channel.deliver(jsonrpc.error(None, failure))
                continue
            if not await self.gateway.credential_watch.holds(channel.connection.principal):
                await socket.close(CLOSE_POLICY_VIOLATION, CREDENTIAL_GONE)
                return
            await channel.receive(message)

    @staticmethod
    async def _write(channel: Channel, socket: Socket) -> None:
        while (message := await channel.next_message()) is not None:
            await socket.text(message)
        if channel.session.close_reason:  # the gateway ended it: its credential was revoked or expired
            await socket.close(CLOSE_POLICY_VIOLATION, channel.session.close_reason)
        else:
            await socket.close(CLOSE_GOING_AWAY, "session closed")  # the gateway is stopping

    # --- the handshake ----------------------------------------------------------------------------

    async def _admit(self, scope) -> tuple:
        headers = http.header_map(scope)
        if not http.origin_allowed(headers, self.gateway.settings.allowed_origins):
            raise Refused(403, "Forbidden: Origin not allowed")
        server_id = scope.get("path_params", {}).get("server_id")
        try:
            principal = await mcp_principal(self.gateway, socket_credentials(scope, headers), server_id)
        except AuthenticationFailed as failure:
            raise Refused(failure.status, str(failure), http.encode_headers(failure.headers)) from None
        except NotAllowed as failure:
            raise Refused(403, str(failure)) from None
        if server_id is not None and self.gateway.catalog.scope(server_id) is None:
            raise Refused(404, f"Virtual server {server_id!r} not found")
        return principal, server_id

    @staticmethod
    async def _refuse(scope, send, refusal: Refused) -> None:
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send(
                {"type": "websocket.close", "code": CLOSE_POLICY_VIOLATION, "reason": refusal.message[:120]}
            )
            return
        body = jsonrpc.encode(
            {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": refusal.message}}
        )
        headers = [*http.JSON_HEADERS, *refusal.headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})


def too_big(text: str | None, data: bytes | None, limit: int) -> bool:
    """Whether a frame holds more than `limit` bytes; short text frames are not encoded to tell."""
    if text is None:
        return len(data or b"") > limit
    if len(text) * 4 <= limit:  # UTF-8 takes at most 4 bytes a character
        return False
    return len(text) > limit or len(text.encode()) > limit


def decode_frame(text: str | None):
    """The JSON-RPC message a frame carries; `McpError` for binary frames, bad JSON and batches."""
    if text is None:
        raise McpError(INVALID_REQUEST, "Invalid Request: send JSON-RPC as text frames")
    message = jsonrpc.decode(text)
    if isinstance(message, list):
        raise McpError(INVALID_REQUEST, "Invalid Request: JSON-RPC batches are not supported")
    return message


def socket_credentials(scope, headers: dict[str, str]) -> Credentials:
    """The request's credentials, with a token from a `bearer.<token>` subprotocol or the `token`
    query parameter presented as `Authorization: Bearer <token>` when no header carries one."""
    credentials = http.credentials(scope, headers)
    if "authorization" in headers:
        return credentials
    offered = [
        p[len(TOKEN_SUBPROTOCOL) :]
        for p in scope.get("subprotocols", ())
        if p.lower().startswith(TOKEN_SUBPROTOCOL)
    ]
    token = offered[0] if offered else credentials.query.get("token")
    if not token:
        return credentials
    return dataclasses.replace(credentials, headers={**headers, "authorization": f"Bearer {token}"})
