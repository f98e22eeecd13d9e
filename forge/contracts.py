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
    """What a request presents, whatever carried it (HTTP headers, a WebSocket query, stdio).

    `resource` is the URL of the MCP endpoint the request reaches (RFC 9728's protected resource,
    e.g. "https://forge.example/servers/abc/mcp"), set by the MCP transports; None for the
    management API and the UI. Plugins use it to answer MCP clients the challenge MCP expects.
    """

    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)
    client_address: str | None = None
    resource: str | None = None


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


@dataclass(frozen=True)
class Invocation:
    """The MCP request an adapter serves, and the ways back to the client that sent it.

    `notify(message)` sends a request-scoped notification (`notifications/progress`,
    `notifications/message`) on the request's own stream; it is a no-op where the transport cannot
    stream. `ask(method, params)` sends the client a request (`sampling/createMessage`,
    `elicitation/create`, `roots/list`) and answers its result; it exists in the handshake era only
    (None in 2026-07-28, where `input_required` results take its place) and raises
    `forge.mcp.jsonrpc.McpError` when the client did not declare the capability or does not answer.
    `input_responses` and `request_state` are what a 2026-07-28 client sent back after an
    `input_required` result.
    """

    principal: Principal
    server_id: str | None
    protocol_version: str
    modern: bool
    client_capabilities: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    log_level: str | None = None
    input_responses: Mapping[str, Any] | None = None
    request_state: str | None = None
    notify: Callable[[dict], Awaitable[None]] | None = None
    ask: Callable[[str, dict], Awaitable[dict]] | None = None

    @property
    def progress_token(self) -> Any:
        return self.meta.get("progressToken")


class ToolAdapter(Protocol):
    """Invokes tools of one integration type ("REST", "MCP", ...).

    `invoke` receives the stored tool (a plain dict, secrets decrypted), the validated arguments and
    the `Invocation` (None when a tool is called outside MCP, e.g. from the admin UI), and answers
    an MCP CallToolResult dict: {"content": [...], "isError": bool, "structuredContent"?} — or, in
    2026-07-28, an `input_required` result. Upstream failures are answered as `isError` results,
    not raised.

    The adapter of integration type "MCP" also serves what federation imports besides tools:
    `get_prompt(prompt, arguments, invocation)`, `read_resource(resource, uri, invocation)` and
    `complete(entity, params, invocation)`, each answering the MCP result dict.
    """

    async def start(self) -> None:
        """Open pools or connections; called once when the gateway starts."""

    async def invoke(self, tool: Mapping[str, Any], arguments: Mapping[str, Any], invocation: Invocation | None) -> dict: ...

    async def aclose(self) -> None:
        """Release what `start` opened; called once when the gateway stops."""


# The integration type of everything imported from an upstream MCP server or peer gateway.
FEDERATED = "MCP"


class UpstreamSession(Protocol):
    """An open MCP client connection to an upstream: what a `forge_upstream_connectors` connector
    yields. Messages are plain JSON-RPC dicts, so results reach clients as the upstream wrote them.

    `protocol_version` is the revision spoken ("2026-07-28", or a handshake-era one);
    `server` is the upstream's server/discover or initialize result.
    `request` sends one request and answers its result dict; it raises `forge.mcp.jsonrpc.McpError`
    for a JSON-RPC error (code, message and data kept), `ConnectionError` when the upstream cannot
    be reached or the connection breaks, `TimeoutError` past `timeout` seconds. The session adds
    the `_meta` its revision needs, declaring `capabilities` and `log_level` (the downstream
    client's, in 2026-07-28); `headers` are extra HTTP headers (Mcp-Param-*) where there are any.
    Notifications related to the request (progress, log messages) go to `on_notification`; in the
    handshake era the upstream's own requests during it (sampling, elicitation, roots) go to
    `on_request(method, params)`, whose answer is sent back.
    `watch(on_change)` runs until the connection ends (raising `ConnectionError`), handing each
    list_changed or resources/updated notification to `on_change`.
    """

    protocol_version: str
    server: Mapping[str, Any]

    async def request(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        capabilities: Mapping[str, Any] | None = None,
        log_level: str | None = None,
        headers: Mapping[str, str] | None = None,
        on_notification: Callable[[dict], Awaitable[None]] | None = None,
        on_request: Callable[[str, dict], Awaitable[dict]] | None = None,
        timeout: float | None = None,
    ) -> dict: ...

    async def watch(self, on_change: Callable[[dict], Awaitable[None]]) -> None: ...


class InvocationRejected(Exception):
    """Raised by a `forge_before_*` hook to refuse an invocation; the message reaches the client."""


class SecretCodec(Protocol):
    """Seals the secrets the store keeps (the upstream headers of tools and gateways), one value
    at a time: `encrypt` answers the text to store, `decrypt` the plaintext of what `encrypt` made.

    `decrypt` answers a value it did not make unchanged (one stored before the codec was
    installed), and raises `SecretUnreadable` for one it made with another key. Both run inside
    store reads and writes, so they are synchronous and do no I/O.
    """

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, stored: str) -> str: ...


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted (the key changed); the message says what to do."""
