"""Forge plugin: MCP over WebSocket at `/ws` and `/servers/{server_id}/ws`.

One JSON-RPC message per text frame, subprotocol `mcp`; a socket is one MCP session. A browser,
which cannot set an Authorization header on a WebSocket, offers its bearer token as the subprotocol
`bearer.<token>` (next to `mcp`) or sends it as the query parameter `token`; see
`forge_plugins.transport_ws.server`. Disable it with PLUGINS_DISABLED=transport_ws.
"""

from __future__ import annotations

from forge.contracts import AsgiRoute, Transport
from forge.hookspecs import hookimpl
from forge_plugins.transport_ws.server import WebSocketTransport


@hookimpl
def forge_transports(gateway):
    endpoint = WebSocketTransport(gateway)
    return Transport(
        name="websocket",
        routes=(
            AsgiRoute("/ws", endpoint, "ws"),
            AsgiRoute("/servers/{server_id}/ws", endpoint, "server_ws"),
        ),
    )
