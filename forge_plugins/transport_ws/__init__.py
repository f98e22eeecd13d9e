"""Forge plugin: MCP over WebSocket, served at `/ws` and `/servers/{server_id}/ws`, and spoken to
upstreams registered with transport "websocket".

One JSON-RPC message per text frame, subprotocol `mcp`; a socket is one MCP session. A browser,
which cannot set an Authorization header on a WebSocket, offers its bearer token as the subprotocol
`bearer.<token>` (next to `mcp`) or sends it as the query parameter `token`; see
`forge_plugins.transport_ws.server`. The client side (`forge_plugins.transport_ws.client`) is a
connector for the federation plugin, which it needs installed and enabled (FEDERATION_ENABLED).
Disable both sides with PLUGINS_DISABLED=transport_ws.
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


@hookimpl
def forge_upstream_connectors(gateway):
    settings = gateway.settings
    if not settings.federation_enabled:
        return None
    try:
        from forge_plugins.federation.wire import client_info
    except ImportError:  # no federation plugin: nothing would connect an upstream
        return None
    from forge.outbound import OutboundPolicy
    from forge_plugins.transport_ws.client import WebSocketConnector  # the SDK's types, as federation's

    connector = WebSocketConnector(
        client_info(settings.app_name),
        settings.federation_timeout,
        settings.max_body_bytes,
        OutboundPolicy.of(settings),
    )
    return {"websocket": connector}
