"""The MCP engine: takes one JSON-RPC message and a `Connection`, answers one message or none.

Layer: protocol. Transports call `McpEngine.handle`; the method tables in `forge.mcp.methods`
do the work through the services layer. Both protocol eras are served: a message on a session
follows the handshake era, a message without one follows the stateless 2026-07-28 revision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from forge import __version__
from forge.contracts import InvocationRejected
from forge.mcp import jsonrpc
from forge.mcp.client_requests import take_answer
from forge.mcp.context import Connection, RequestContext
from forge.mcp.envelope import check_modern_request
from forge.mcp.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, REQUEST_CANCELLED, McpError
from forge.mcp.methods import CACHEABLE_METHODS, HANDSHAKE_METHODS, MODERN_METHODS
from forge.mcp.session import SessionRegistry
from forge.mcp.subscriptions import Subscription, SubscriptionHub
from forge.mcp.versions import (
    META_CLIENT_CAPABILITIES,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
)
from forge.services.uri_templates import UriTemplate, UriTemplateError

log = logging.getLogger("forge.mcp")

# Methods a handshake-era session may call before `initialize` has been answered.
BEFORE_INITIALIZE = frozenset({"initialize", "ping"})
# Methods that change what a session remembers: a shared session is saved after each.
SESSION_CHANGING = frozenset({"initialize", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"})


class McpEngine:
    """Dispatches MCP messages to method handlers; owns sessions and change subscriptions."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.sessions = SessionRegistry()
        self.subscriptions = SubscriptionHub()
        self._chain: Callable | None = None  # the `forge_mcp_middleware` chain, when any

    def use_middleware(self, middlewares: list[Callable]) -> None:
        """Compose the middlewares plugins contributed (`forge_mcp_middleware`), the first outermost."""
        chain = None
        if middlewares:
            chain = self._answer
            for middleware in reversed(middlewares):
                chain = _link(middleware, chain)
        self._chain = chain

    @property
    def server_info(self) -> dict:
        return {"name": self.gateway.settings.app_name, "version": __version__}

    async def handle(self, message: Any, connection: Connection) -> dict | Subscription | None:
        """Answer one decoded message: a response dict for a request, None for anything else, or a
        `Subscription` for subscriptions/listen, which the transport streams until the client leaves."""
        if self._chain is None:
            return await self._answer(message, connection)
        try:
            return await self._chain(message, connection)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("an MCP middleware failed")
            if isinstance(message, dict) and jsonrpc.is_request(message):
                return jsonrpc.error(jsonrpc.readable_id(message), McpError(INTERNAL_ERROR, "Internal error"))
            return None

    async def _answer(self, message: Any, connection: Connection) -> dict | Subscription | None:
        request_id = jsonrpc.readable_id(message)
        try:
            jsonrpc.check_envelope(message)
            if jsonrpc.is_notification(message):
                await self._notification(message, connection)
                return None
            if jsonrpc.is_response(message):
                take_answer(connection.session, message)  # the client answering Forge's own request
                return None
            context = self._context(message, connection)
            result = await self._dispatch(message["method"], message.get("params") or {}, context)
            if message["method"] in SESSION_CHANGING and connection.session is not None:
                await self.sessions.save(connection.session)
            if isinstance(result, Subscription):
                return result  # a stream the transport writes out (subscriptions/listen)
            return jsonrpc.result(request_id, result)
        except McpError as failure:
            return jsonrpc.error(request_id, failure)
        except InvocationRejected as refusal:  # a guardrail plugin said no (prompts, resources)
            return jsonrpc.error(request_id, McpError(INVALID_REQUEST, f"Refused: {refusal}"))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("internal error while handling %s", message.get("method"))
            return jsonrpc.error(request_id, McpError(INTERNAL_ERROR, "Internal error"))

    # --- per request ----------------------------------------------------------------------------

    def _context(self, message: dict, connection: Connection) -> RequestContext:
        params = message.get("params") or {}
        session = connection.session
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        if session is None or (not session.initialized and META_PROTOCOL_VERSION in meta):
            meta = check_modern_request(message["method"], params, connection.routing_headers)
            return RequestContext(
                connection=connection,
                request_id=message["id"],
                protocol_version=meta[META_PROTOCOL_VERSION],
                modern=True,
                meta=meta,
                client_capabilities=meta[META_CLIENT_CAPABILITIES],
                log_level=meta.get(META_LOG_LEVEL),
            )
        if not session.initialized and message["method"] not in BEFORE_INITIALIZE:
            raise McpError(INVALID_REQUEST, "Session not initialized: send initialize first")
        return RequestContext(
            connection=connection,
            request_id=message["id"],
            protocol_version=session.protocol_version,
            modern=False,
            meta=meta,
            client_capabilities=session.client_capabilities,
            log_level=session.log_level,
        )

    async def _dispatch(self, method: str, params: dict, context: RequestContext) -> Any:
        table = MODERN_METHODS if context.modern else HANDSHAKE_METHODS
        handler = table.get(method)
        if handler is None:
            raise McpError(METHOD_NOT_FOUND, f"Method not found: {method}", {"method": method})
        session = context.session
        if session is None or context.modern or not session.id:  # no id: /rpc's throwaway, never cancelled
            result = await handler(self.gateway, params, context)
        else:
            result = await self._cancellable(session, context.request_id, handler(self.gateway, params, context))
        if context.modern and isinstance(result, dict):
            result = self._stamp(method, result)
        return result

    async def _cancellable(self, session, request_id, work) -> Any:
        """Run `work` so that `notifications/cancelled` for `request_id` can stop it."""
        task = asyncio.ensure_future(work)
        session.in_flight[request_id] = task
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled() and not asyncio.current_task().cancelling():
                raise McpError(REQUEST_CANCELLED, "Request cancelled") from None
            raise
        finally:
            session.in_flight.pop(request_id, None)

    def _stamp(self, method: str, result: dict) -> dict:
        """A copy of `result` with what every 2026-07-28 result carries: resultType, serverInfo,
        cache hints. A copy, because handlers may answer shared objects (cached resource reads)
        that a handshake-era client must later see unstamped."""
        result = {**result, "_meta": {**(result.get("_meta") or {}), META_SERVER_INFO: self.server_info}}
        result.setdefault("resultType", "complete")
        if method in CACHEABLE_METHODS and result["resultType"] == "complete":
            settings = self.gateway.settings
            result.setdefault("ttlMs", settings.mcp_result_ttl_ms)
            # Shared caches may keep an answer only when every caller gets the same one.
            result.setdefault("cacheScope", "private" if settings.auth_required else "public")
        return result

    # --- notifications from the client -----------------------------------------------------------

    async def _notification(self, message: dict, connection: Connection) -> None:
        """Act on a client notification; a malformed one is ignored, as one may not be answered."""
        session = connection.session
        params = message.get("params") or {}
        if session is None:
            return
        if message["method"] == "notifications/initialized":
            session.initialized = True
        elif message["method"] == "notifications/cancelled":
            request_id = params.get("requestId")
            if isinstance(request_id, str | int) and not isinstance(request_id, bool):
                session.cancel(request_id)

    # --- notifications to clients ---------------------------------------------------------------

    async def announce_list_changes(self, kinds: set[str]) -> None:
        """Tell every session and listener that these lists ("tools", "prompts", "resources") changed."""
        for kind in sorted(kinds):
            method = f"notifications/{kind}/list_changed"
            for session in self.sessions:
                if session.initialized:
                    session.push(jsonrpc.notification(method))
            self.subscriptions.publish(kind, method)

    async def announce_resource_updated(self, uri: str) -> None:
        """Tell the subscribers of `uri` that it changed. A URI template's change reaches the
        subscribers of every URI it expands to (`docs://items/{id}` → `docs://items/7`)."""
        affected = uri_matcher(uri)
        for session in self.sessions:
            for subscribed in sorted(filter(affected, session.subscriptions)):
                session.push(jsonrpc.notification("notifications/resources/updated", {"uri": subscribed}))
        self.subscriptions.publish_resource(uri, affected)


def _link(middleware: Callable, call_next: Callable) -> Callable:
    async def handle(message: Any, connection: Connection):
        return await middleware(message, connection, call_next)

    return handle


def uri_matcher(uri: str) -> Callable[[str], bool]:
    """A test for the subscribed URIs a change of `uri` (a URI or a URI template) touches."""
    try:
        template = UriTemplate(uri)
    except UriTemplateError:
        template = None
    if template is None or not template.is_template:
        return lambda subscribed: subscribed == uri
    return lambda subscribed: subscribed == uri or template.match(subscribed) is not None
