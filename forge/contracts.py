"""The small value types that hooks exchange with the kernel.

Layer: kernel contracts. Hookspecs (`forge.hookspecs`) name these in their signatures; plugins build
them and the kernel consumes them. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# An ASGI application: the kernel mounts these in front of Quart for the MCP hot path.
Asgi = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the answer of `forge_authenticate`.

    `scopes` holds what the credential allows: "admin" for management writes, "read" for reads,
    "server:<id>" to reach only that virtual server's endpoints. An empty `servers` means all.
    """

    name: str
    scopes: frozenset[str] = frozenset({"admin"})
    method: str = "anonymous"
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes


ANONYMOUS = Principal(name="anonymous", scopes=frozenset({"admin"}), method="anonymous")


@dataclass(frozen=True)
class Credentials:
    """What a request presents, whatever carried it (HTTP headers, a WebSocket query, stdio)."""

    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)
    client_address: str | None = None


@dataclass(frozen=True)
class AsgiRoute:
    """A path served by a plain ASGI handler in front of Quart.

    `path` may hold `{name}` segments; their values reach the handler in `scope["path_params"]`.
    `methods` limits the HTTP methods (empty: any, including WebSocket connections).
    """

    path: str
    endpoint: Asgi
    name: str
    methods: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Transport:
    """A way for MCP clients to reach Forge: a name and the ASGI routes that serve it."""

    name: str
    routes: tuple[AsgiRoute, ...]


@dataclass(frozen=True)
class AdminPanel:
    """A page of the admin UI. `render` is an async callable (gateway, request) -> HTML fragment."""

    id: str
    title: str
    render: Callable[..., Awaitable[str]]
    order: int = 100


@dataclass(frozen=True)
class ToolCall:
    """One tools/call on its way to an adapter. Invocation hooks may answer a replaced copy."""

    name: str
    arguments: Mapping[str, Any]
    tool: Mapping[str, Any]
    principal: Principal
    server_id: str | None = None


class ToolAdapter(Protocol):
    """Invokes tools of one integration type ("REST", "MCP", ...).

    `invoke` receives the stored tool (a plain dict, secrets decrypted) and the validated arguments,
    and answers an MCP CallToolResult dict: {"content": [...], "isError": bool, "structuredContent"?}.
    Upstream failures are answered as `isError` results, not raised.
    """

    async def start(self) -> None:
        """Open pools or connections; called once when the gateway starts."""

    async def invoke(self, tool: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict: ...

    async def aclose(self) -> None:
        """Release what `start` opened; called once when the gateway stops."""


class InvocationRejected(Exception):
    """Raised by a `forge_before_*` hook to refuse an invocation; the message reaches the client."""
