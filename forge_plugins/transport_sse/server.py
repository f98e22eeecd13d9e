"""The HTTP+SSE transport of MCP 2024-11-05, served: a stream out (GET /sse), messages in (POST /message).

Layer: transport, plain ASGI handlers mounted in front of Quart; below them the kernel's HTTP
helpers (`forge.http`) and a `forge.mcp.channel.Channel` per stream, which hands messages to the
engine. No database read happens here.

GET /sse (or /servers/{id}/sse) opens a session and a `text/event-stream`. Its first event is
`endpoint`, whose data is where to POST messages: `<root path>/message?session_id=<id>`. Each POST
carries one JSON-RPC message and is answered 202 Accepted at once; the JSON-RPC response and every
notification the server sends arrive on the stream as `message` events. An idle stream gets a
comment every `keepalive` seconds. When the client drops the stream, its session is closed, its
requests in flight are cancelled, and later POSTs naming it are answered 404. The same happens when
the credential the stream was opened with is revoked or expires: it is re-checked periodically and
on every POST (`forge.mcp.revalidation`), and the stream ends.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

from forge import http
from forge.auth import AuthenticationFailed, NotAllowed, mcp_principal
from forge.keepalive import has_body
from forge.mcp import jsonrpc
from forge.mcp.channel import Channel
from forge.mcp.jsonrpc import INVALID_REQUEST, McpError
from forge.mcp.revalidation import CREDENTIAL_GONE

KEEPALIVE_SECONDS = 15.0
SESSION_NOT_FOUND = -32001  # the code Streamable HTTP answers for an unknown session, too


class HttpError(Exception):
    """Ends a request with an HTTP status and a JSON-RPC error body (id null)."""

    def __init__(self, status: int, code: int, message: str, headers=()):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, list(headers)

    async def send(self, send) -> None:
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": self.code, "message": self.message}}
        await http.send_json(send, self.status, body, self.headers)


class LegacySse:
    """Both endpoints of the transport, sharing the streams open right now (by session id)."""

    def __init__(self, gateway, *, keepalive: float = KEEPALIVE_SECONDS):
        self.gateway = gateway
        self.keepalive = keepalive
        self.channels: dict[str, Channel] = {}

    # --- GET /sse: the stream ---------------------------------------------------------------------

    async def stream(self, scope, receive, send):
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = http.header_map(scope)
        try:
            if scope["method"] != "GET":
                raise HttpError(
                    405, INVALID_REQUEST, "Method not allowed: GET opens the stream", [(b"allow", b"GET")]
                )
            if not http.accepts(headers, "text/event-stream"):
                raise HttpError(406, INVALID_REQUEST, "Not Acceptable: accept text/event-stream")
            principal, server_id = await self._admit(scope, headers)
        except HttpError as failure:
            if has_body(scope):  # a stream is opened without one
                await http.discard_body(receive, self.gateway.settings.max_body_bytes)
                failure.headers.append((b"connection", b"close"))
            await failure.send(send)
            return
        channel = Channel(self.gateway.engine, principal, server_id, transport="sse")
        self.channels[channel.session.id] = channel
        stream = http.SseStream(send, receive)
        try:
            await stream.start()
            await stream.text_event("endpoint", self._endpoint(scope, server_id, channel.session.id))
            await stream.pump(channel.next_message, self.keepalive)
        finally:
            self.channels.pop(channel.session.id, None)
            await channel.close()

    @staticmethod
    def _endpoint(scope, server_id: str | None, session_id: str) -> str:
        """The message URL, relative to the host so clients join it to the URL they connected to."""
        root = scope.get("root_path", "")
        path = f"/servers/{quote(server_id, safe='')}/message" if server_id is not None else "/message"
        return f"{root}{path}?session_id={session_id}"

    # --- POST /message: one message in ------------------------------------------------------------

    async def message(self, scope, receive, send):
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = http.header_map(scope)
        reading = False  # once the body is being read, an error has read it or found it too large
        try:
            if scope["method"] != "POST":
                raise HttpError(
                    405, INVALID_REQUEST, "Method not allowed: POST messages here", [(b"allow", b"POST")]
                )
            principal, server_id = await self._admit(scope, headers)
            channel = self._channel(scope, principal, server_id)
            if not await self.gateway.credential_watch.holds(channel.connection.principal):
                # The stream was opened with another credential of this principal, now revoked or expired.
                await self.gateway.engine.sessions.end(channel.session.id, CREDENTIAL_GONE)
                raise HttpError(404, SESSION_NOT_FOUND, f"Session not found: {CREDENTIAL_GONE}")
            if "application/json" not in headers.get("content-type", "application/json"):
                raise HttpError(415, INVALID_REQUEST, "Unsupported Media Type: send application/json")
            reading = True
            message = await self._read_message(receive)
        except HttpError as failure:
            if not reading and has_body(scope):
                await http.discard_body(receive, self.gateway.settings.max_body_bytes)
            # The body may be unread (too large): the connection cannot carry another request.
            failure.headers.append((b"connection", b"close"))
            await failure.send(send)
            return
        except ConnectionResetError:
            return
        await channel.receive(message)
        await http.send_bytes(send, 202, b"Accepted", [(b"content-type", b"text/plain")])

    def _channel(self, scope, principal, server_id) -> Channel:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        session_id = query.get("session_id")
        if not session_id:
            raise HttpError(400, INVALID_REQUEST, "Bad Request: missing session_id (open GET /sse first)")
        session = self.gateway.engine.sessions.get(session_id, principal)
        channel = self.channels.get(session_id)
        if session is None or channel is None or session.server_id != server_id:
            raise HttpError(404, SESSION_NOT_FOUND, "Session not found: open a new stream")
        return channel

    async def _read_message(self, receive) -> dict:
        try:
            body = await http.read_body(receive, self.gateway.settings.max_body_bytes)
        except http.BodyTooLarge:
            raise HttpError(413, INVALID_REQUEST, "Request body too large") from None
        try:
            message = jsonrpc.decode(body)
            if isinstance(message, list):
                raise McpError(INVALID_REQUEST, "Invalid Request: JSON-RPC batches are not supported")
            jsonrpc.check_envelope(message)
        except McpError as failure:
            raise HttpError(400, failure.code, failure.message) from None
        return message

    # --- both: who may come in --------------------------------------------------------------------

    async def _admit(self, scope, headers) -> tuple:
        """(principal, server id) of an allowed caller; Origin, credentials and the server checked."""
        if not http.origin_allowed(headers, self.gateway.settings.allowed_origins):
            raise HttpError(403, INVALID_REQUEST, "Forbidden: Origin not allowed")
        server_id = scope.get("path_params", {}).get("server_id")
        try:
            principal = await mcp_principal(self.gateway, http.credentials(scope, headers), server_id)
        except AuthenticationFailed as failure:
            raise HttpError(
                failure.status, INVALID_REQUEST, str(failure), http.encode_headers(failure.headers)
            ) from None
        except NotAllowed as failure:
            raise HttpError(403, INVALID_REQUEST, str(failure)) from None
        if server_id is not None and self.gateway.catalog.scope(server_id) is None:
            raise HttpError(404, INVALID_REQUEST, f"Virtual server {server_id!r} not found")
        return principal, server_id
