"""Forge plugin: MCP's HTTP+SSE transport of 2024-11-05, for clients that predate Streamable HTTP.

Serves `GET /sse` and `GET /servers/{server_id}/sse` (the event stream, whose first event names
the message URL) and `POST /message` and `POST /servers/{server_id}/message` (one JSON-RPC message
per request, `?session_id=` from the endpoint event). Authentication, authorization and the Origin
check are those of Streamable HTTP. Disable it with PLUGINS_DISABLED=transport_sse.
"""

from __future__ import annotations

from forge.contracts import AsgiRoute, Transport
from forge.hookspecs import hookimpl
from forge_plugins.transport_sse.server import LegacySse


@hookimpl
def forge_transports(gateway):
    sse = LegacySse(gateway)
    return Transport(
        name="sse",
        routes=(
            AsgiRoute("/sse", sse.stream, "sse"),
            AsgiRoute("/message", sse.message, "sse_message"),
            AsgiRoute("/servers/{server_id}/sse", sse.stream, "server_sse"),
            AsgiRoute("/servers/{server_id}/message", sse.message, "server_sse_message"),
        ),
    )
