"""Default plugin: MCP's Streamable HTTP transport at /mcp and /servers/{server_id}/mcp, and
plain JSON-RPC over HTTP at /rpc and /servers/{server_id}/rpc.

Layer: transport, a plain ASGI handler mounted in front of Quart; it hands messages to the MCP
engine (`gateway.engine`) and reads nothing from the database.

Both protocol eras share the endpoint. A request naming the 2026-07-28 revision (its `_meta` or
its MCP-Protocol-Version header) is served statelessly; `initialize` opens a handshake-era
session whose id travels in Mcp-Session-Id. A POST is answered as JSON unless the request emits
notifications first, in which case the answer switches to an SSE stream. GET opens a session's
stream of server-initiated messages (resumable with Last-Event-ID); DELETE ends the session.
A session ends when the credential of its latest request, or the one holding its GET stream open,
is revoked or expires, and a `subscriptions/listen` stream when its own does (`forge.mcp.revalidation`).
On /rpc, an error whose `data.retryAfter` is a number of seconds (a rate limit, see the limits
plugin) is answered 429 with Retry-After; /mcp answers it 200, as MCP clients read JSON-RPC errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from forge import http
from forge.auth import AuthenticationFailed, NotAllowed, authenticate, authorize
from forge.contracts import AsgiRoute, Transport
from forge.hookspecs import hookimpl
from forge.mcp import jsonrpc
from forge.mcp.context import Connection
from forge.mcp.jsonrpc import HEADER_MISMATCH, INVALID_REQUEST, McpError
from forge.mcp.param_headers import HEADER_PREFIX as PARAM_HEADER_PREFIX
from forge.mcp.session import Session
from forge.mcp.subscriptions import Subscription
from forge.mcp.versions import HANDSHAKE_VERSIONS, LATEST_HANDSHAKE, META_PROTOCOL_VERSION, is_modern

KEEPALIVE_SECONDS = 15.0
# A 2026-07-28 request still running this long after it arrived starts watching for its client
# hanging up (see HangupWatch); answers that come sooner never start the watch.
WATCH_AFTER_SECONDS = 0.02
# The 2026-07-28 revision's HTTP status for each JSON-RPC error code (others: 200).
MODERN_ERROR_STATUS = {-32700: 400, -32600: 400, -32602: 400, -32020: 400, -32021: 400, -32022: 400, -32601: 404}
ROUTING_HEADERS = ("mcp-protocol-version", "mcp-method", "mcp-name")


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
HUNG_UP = object()  # the client left before its request was answered


class HttpError(Exception):
    """Ends a request with an HTTP status and a JSON-RPC error body (id null)."""

    def __init__(self, status: int, code: int, message: str, headers=()):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, list(headers)


class StreamableHttp:
    """The ASGI endpoint; `stateless=True` makes the plain JSON-RPC variant (/rpc): no sessions,
    no streams, every request answered as JSON."""

    def __init__(self, gateway, *, stateless: bool = False):
        self.gateway = gateway
        self.engine = gateway.engine
        self.stateless = stateless

    async def __call__(self, scope, receive, send):
        headers = http.header_map(scope)
        try:
            if not http.origin_allowed(headers, self.gateway.settings.allowed_origins):
                raise HttpError(403, INVALID_REQUEST, "Forbidden: Origin not allowed")
            server_id = scope.get("path_params", {}).get("server_id")
            principal = await self._principal(scope, headers, server_id)
            if server_id is not None and self.gateway.catalog.scope(server_id) is None:
                raise HttpError(404, INVALID_REQUEST, f"Virtual server {server_id!r} not found")
            method = scope["method"]
            if method == "POST":
                await self._post(scope, receive, send, headers, principal, server_id)
            elif method == "GET" and not self.stateless:
                await self._get(receive, send, headers, principal, server_id)
            elif method == "DELETE" and not self.stateless:
                await self._delete(send, headers, principal, server_id)
            else:
                allow = b"POST" if self.stateless else b"GET, POST, DELETE"
                raise HttpError(405, INVALID_REQUEST, "Method not allowed", [(b"allow", allow)])
        except HttpError as failure:
            body = {"jsonrpc": "2.0", "id": None, "error": {"code": failure.code, "message": failure.message}}
            extra = failure.headers
            if scope["method"] in BODY_METHODS:
                # The request body may be unread: the connection cannot carry another request.
                extra = [*extra, (b"connection", b"close")]
            await http.send_json(send, failure.status, body, extra)

    async def _principal(self, scope, headers, server_id):
        try:
            principal = await authenticate(self.gateway, http.credentials(scope, headers))
            await authorize(self.gateway, principal, "mcp", f"server:{server_id}" if server_id else "mcp:all")
        except AuthenticationFailed as failure:
            raise HttpError(failure.status, INVALID_REQUEST, str(failure), http.encode_headers(failure.headers)) from None
        except NotAllowed as failure:
            raise HttpError(403, INVALID_REQUEST, str(failure)) from None
        return principal

    # --- POST: one message in, one answer out (JSON, or SSE once notifications flow) --------------

    async def _post(self, scope, receive, send, headers, principal, server_id):
        if not (http.accepts(headers, "application/json") or http.accepts(headers, "text/event-stream")):
            raise HttpError(406, INVALID_REQUEST, "Not Acceptable: accept application/json or text/event-stream")
        if "application/json" not in headers.get("content-type", "application/json"):
            raise HttpError(415, INVALID_REQUEST, "Unsupported Media Type: send application/json")
        try:
            body = await http.read_body(receive, self.gateway.settings.max_body_bytes)
        except http.BodyTooLarge:
            raise HttpError(413, INVALID_REQUEST, "Request body too large") from None
        except ConnectionResetError:
            return
        try:
            message = jsonrpc.decode(body)
            if isinstance(message, list):
                raise McpError(INVALID_REQUEST, "Invalid Request: JSON-RPC batches are not supported")
            jsonrpc.check_envelope(message)
            if jsonrpc.is_request(message):
                refuse_duplicated_routing_headers(scope)
        except McpError as failure:
            await http.send_json(send, 400, jsonrpc.error(message_id(body), failure))
            return
        session, opened = await self._session_for(message, headers, principal, server_id)
        routing = {name: headers[name] for name in ROUTING_HEADERS if name in headers}
        stream = http.SseStream(send, receive) if http.accepts(headers, "text/event-stream") and not self.stateless else None
        connection = Connection(
            principal=principal,
            server_id=server_id,
            session=session,
            routing_headers=routing,
            emit=self._emitter(stream) if stream else None,
            transport="streamable_http",
            headers=headers,
        )
        answer = await self._answer(message, connection, receive)
        if answer is HUNG_UP:
            return
        if answer is None:
            await http.send_bytes(send, 202, b"", [])
            return
        if isinstance(answer, Subscription):
            await self._listen(stream, answer, send)
            return
        if opened is not None and "error" in answer:
            await self.engine.sessions.end(opened.id)
            opened = None
        extra = [(b"mcp-session-id", opened.id.encode())] if opened is not None else []
        status = self._status(answer, session)
        wait = retry_after(answer) if self.stateless else None
        if wait is not None:  # a rate limit's answer: plain HTTP clients on /rpc read the status
            status, extra = 429, [*extra, (b"retry-after", str(wait).encode())]
        if stream is not None and not stream.started and status == 200 and not http.accepts(headers, "application/json"):
            await stream.start(extra_headers=extra)  # the client reads event streams only
        if stream is not None and stream.started:
            await stream.event(answer)
            await stream.close()
            return
        await http.send_json(send, status, answer, extra)

    async def _answer(self, message, connection: Connection, receive):
        """The engine's answer, or HUNG_UP. A 2026-07-28 request is cancelled when its client hangs
        up (that revision cancels over HTTP by closing the request); in the handshake era a
        disconnect is not a cancellation (`notifications/cancelled` is), so the request runs on."""
        if connection.session is not None or not jsonrpc.is_request(message):
            return await self.engine.handle(message, connection)
        watch = HangupWatch(receive)
        try:
            answer = await self.engine.handle(message, connection)
        except asyncio.CancelledError:
            if watch.stop() and not asyncio.current_task().cancelling():
                return HUNG_UP  # the client left; nobody else is cancelling this request
            raise
        finally:
            watch.stop()
        if watch.gone and isinstance(answer, Subscription):
            answer.close()  # its stream would never learn of the disconnect the watch consumed
            return HUNG_UP
        return answer

    async def _session_for(self, message, headers, principal, server_id) -> tuple[Session | None, Session | None]:
        """(the session serving this message, the one opened for it if it is `initialize`)."""
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        version = headers.get("mcp-protocol-version")
        if self.stateless and META_PROTOCOL_VERSION not in meta and not is_modern(version):
            # Plain JSON-RPC: a throwaway handshake-era session per request.
            return Session(id="", principal=principal, server_id=server_id, protocol_version=LATEST_HANDSHAKE, initialized=True), None
        session_id = headers.get("mcp-session-id")
        if session_id and not self.stateless:
            session = await self._existing_session(session_id, principal, server_id)
            if version is not None and version not in HANDSHAKE_VERSIONS:
                raise HttpError(400, INVALID_REQUEST, f"Bad Request: unsupported MCP-Protocol-Version {version!r}")
            return session, None
        if META_PROTOCOL_VERSION in meta or is_modern(version):
            return None, None  # the stateless revision
        if message.get("method") == "initialize" and not self.stateless:
            session = self.engine.sessions.open(principal, server_id, shared=True)
            return session, session
        raise HttpError(400, INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id (send initialize first)")

    async def _existing_session(self, session_id: str, principal, server_id) -> Session:
        """The open session with this id, opened by this principal on this endpoint (here, or in
        another process sharing the session store); else 404."""
        session = await self.engine.sessions.find(session_id, principal)
        if session is None or session.server_id != server_id:
            raise HttpError(404, -32001, "Session not found")
        if session.renewable:
            # The session lives on this request's credential now (a client refreshing its token
            # keeps its session; the one it replaced may expire or be revoked).
            session.principal = principal
        return session

    @staticmethod
    def _emitter(stream: http.SseStream):
        async def emit(message: dict) -> None:
            if not stream.started:
                await stream.start()
            await stream.event(message)

        return emit

    @staticmethod
    def _status(answer: dict, session: Session | None) -> int:
        error = answer.get("error")
        if error is None:
            return 200
        if session is None:
            return MODERN_ERROR_STATUS.get(error["code"], 200)
        return 400 if error["code"] in (-32700, -32600) else 200

    async def _listen(self, stream: http.SseStream | None, subscription: Subscription, send):
        if stream is None:
            subscription.close()
            failure = McpError(INVALID_REQUEST, "subscriptions/listen needs Accept: text/event-stream")
            await http.send_json(send, 406, jsonrpc.error(subscription.id, failure))
            return
        try:
            await stream.start()
            await self._pump(stream, subscription.__anext__)
        finally:
            subscription.close()

    async def _pump(self, stream: http.SseStream, next_message, first_event_id=None):
        """Write messages from `next_message()` until the client leaves; keep-alive when idle."""
        watcher = asyncio.create_task(stream.watch_disconnect())
        try:
            while not stream.disconnected.is_set():
                waiter = asyncio.ensure_future(next_message())
                gone = asyncio.ensure_future(stream.disconnected.wait())
                done, _ = await asyncio.wait({waiter, gone}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                gone.cancel()
                if waiter in done:
                    item = waiter.result()
                    if item is None:
                        break
                    event_id, message = item if isinstance(item, tuple) else (None, item)
                    await stream.event(message, event_id)
                else:
                    waiter.cancel()
                    if not done:
                        await stream.comment()
        except (ConnectionResetError, OSError):
            pass
        finally:
            watcher.cancel()
            with contextlib.suppress(Exception):
                await stream.close()

    # --- GET: the session's own stream of server-initiated messages -------------------------------

    async def _get(self, receive, send, headers, principal, server_id):
        session_id = headers.get("mcp-session-id")
        if not session_id:
            raise HttpError(405, INVALID_REQUEST, "Method not allowed: no stream without a session", [(b"allow", b"POST")])
        if not http.accepts(headers, "text/event-stream"):
            raise HttpError(406, INVALID_REQUEST, "Not Acceptable: accept text/event-stream")
        session = await self._existing_session(session_id, principal, server_id)
        if session.listeners:
            raise HttpError(409, INVALID_REQUEST, "Conflict: this session already has a stream open")
        last = headers.get("last-event-id")
        cursor = int(last) if last and last.isdigit() else session.delivered_event_id
        # The stream is held open by this request's credential (perhaps a newer token than the one
        # that opened the session): once either is revoked or expires, the session ends.
        session.stream_principal = principal
        wake = asyncio.Event()
        session.listeners.add(wake)

        async def next_message():
            nonlocal cursor
            while not session.closed:
                pending = session.messages_after(cursor)
                if pending:
                    cursor = pending[0][0]
                    session.delivered_event_id = max(session.delivered_event_id, cursor)
                    return pending[0]
                wake.clear()
                await wake.wait()
            return None

        stream = http.SseStream(send, receive)
        try:
            await stream.start()
            await self._pump(stream, next_message)
        finally:
            session.listeners.discard(wake)
            session.stream_principal = None
            session.last_used = time.monotonic()  # idle from now, not from when the stream opened

    # --- DELETE: end a session --------------------------------------------------------------------

    async def _delete(self, send, headers, principal, server_id):
        session_id = headers.get("mcp-session-id")
        if not session_id:
            raise HttpError(400, INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id")
        await self._existing_session(session_id, principal, server_id)
        await self.engine.sessions.end(session_id)
        await http.send_bytes(send, 200, b"", [])


def message_id(body: bytes):
    """The id of a message whose envelope failed, when it can be read, for the error answer."""
    try:
        message = jsonrpc.decode(body)
    except McpError:
        return None
    return jsonrpc.readable_id(message)


def retry_after(answer: dict) -> int | None:
    """The `error.data.retryAfter` seconds of an answer refused by a rate limit, else None."""
    error = answer.get("error")
    data = error.get("data") if error is not None else None
    wait = data.get("retryAfter") if type(data) is dict else None
    return wait if type(wait) is int else None


class HangupWatch:
    """Cancels the task serving a request when its client disconnects. Watching begins only after
    WATCH_AFTER_SECONDS, as a task reading `receive`: most calls are answered sooner and so cost a
    timer, not a task and a pending receive (profiled at about 4% of a /mcp call's CPU)."""

    def __init__(self, receive):
        self.serving = asyncio.current_task()
        self.receive = receive
        self.gone = False
        self.watcher: asyncio.Task | None = None
        self.timer = asyncio.get_running_loop().call_later(WATCH_AFTER_SECONDS, self._start)

    def _start(self) -> None:
        self.watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        await wait_for_disconnect(self.receive)
        self.gone = True
        self.serving.cancel()

    def stop(self) -> bool:
        """Stop watching (again: no effect); answer whether the client left, the cancellation that
        caused taken back."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            if self.watcher is not None:
                self.watcher.cancel()
            if self.gone:
                self.serving.uncancel()
        return self.gone


async def wait_for_disconnect(receive) -> None:
    """Return when the client closes the connection (the request body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def refuse_duplicated_routing_headers(scope) -> None:
    """A routing or Mcp-Param-* header sent twice is ambiguous (first-copy and last-copy readers
    would disagree)."""
    seen = set()
    for name, _ in scope["headers"]:
        name = name.decode("latin-1").lower()
        if name in ROUTING_HEADERS or name.startswith(PARAM_HEADER_PREFIX):
            if name in seen:
                raise McpError(HEADER_MISMATCH, f"Header mismatch: the {name} header was sent more than once")
            seen.add(name)


@hookimpl
def forge_transports(gateway):
    endpoint, rpc = StreamableHttp(gateway), StreamableHttp(gateway, stateless=True)
    return Transport(
        name="streamable_http",
        routes=(
            AsgiRoute("/mcp", endpoint, "mcp"),
            AsgiRoute("/servers/{server_id}/mcp", endpoint, "server_mcp"),
            AsgiRoute("/rpc", rpc, "rpc"),
            AsgiRoute("/servers/{server_id}/rpc", rpc, "server_rpc"),
        ),
    )
