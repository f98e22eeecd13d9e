"""What a transport tells the engine about a message, and what the engine derives per request.

Layer: protocol. Transports build a `Connection` (who is calling, which scope, which session,
how to reach the client); the engine builds a `RequestContext` for each request it serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forge.contracts import Invocation, Principal
from forge.mcp.session import Session

# Sends one server-to-client message (a notification) on the stream of the request being served.
Emit = Callable[[dict], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Connection:
    """A transport's view of one inbound message.

    `session` is the handshake-era session (None for stateless 2026-07-28 requests).
    `routing_headers` holds the lower-cased MCP routing headers (`mcp-protocol-version`,
    `mcp-method`, `mcp-name`) on transports that carry them (HTTP), else None.
    `emit` delivers request-scoped notifications (progress, log messages); None when the transport
    cannot stream a response, in which case they are dropped.
    `headers` holds the lower-cased headers of the HTTP request that carried the message, on
    transports with one request per message (Streamable HTTP), for middlewares to read trace
    context and request ids; None elsewhere. It includes credentials: never log it whole.
    """

    principal: Principal
    server_id: str | None = None
    session: Session | None = None
    routing_headers: Mapping[str, str] | None = None
    emit: Emit | None = None
    transport: str = "memory"
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One request being served: its connection plus what its envelope said."""

    connection: Connection
    request_id: Any
    protocol_version: str
    modern: bool
    meta: Mapping[str, Any] = field(default_factory=dict)
    client_capabilities: Mapping[str, Any] = field(default_factory=dict)
    log_level: str | None = None

    @property
    def principal(self) -> Principal:
        return self.connection.principal

    @property
    def server_id(self) -> str | None:
        return self.connection.server_id

    @property
    def session(self) -> Session | None:
        return self.connection.session

    def invocation(self, params: Mapping[str, Any], ask: Callable | None) -> Invocation:
        """What adapters see of this request (see `forge.contracts.Invocation`)."""
        request_state = params.get("requestState")
        input_responses = params.get("inputResponses")
        return Invocation(
            principal=self.principal,
            server_id=self.server_id,
            protocol_version=self.protocol_version,
            modern=self.modern,
            client_capabilities=self.client_capabilities,
            meta=self.meta,
            log_level=self.log_level,
            input_responses=input_responses if isinstance(input_responses, dict) else None,
            request_state=request_state if isinstance(request_state, str) else None,
            notify=self.notify,
            ask=ask,
        )

    async def notify(self, message: dict) -> None:
        """Send a request-scoped notification, if the transport can carry one."""
        if self.connection.emit is not None:
            await self.connection.emit(message)
