"""The gateways panel: upstream MCP servers and peer gateways, with their connection state and last
error, and a form to add one.

Layer: plugin panels, over `panels.entities`. Connecting is the federation plugin's work; the list
says when no installed plugin connects a gateway's transport.
"""

from __future__ import annotations

from forge_plugins.admin_ui.forms import FormField
from forge_plugins.admin_ui.pages import gateway
from forge_plugins.admin_ui.panels.entities import DESCRIPTION, NAME, EntityPages
from forge_plugins.admin_ui.panels.listing import Column

TRANSPORTS = (
    ("streamable_http", "Streamable HTTP"),
    ("sse", "HTTP+SSE"),
    ("websocket", "WebSocket"),
    ("stdio", "stdio (a command line)"),
)


def _seen(gateway_record) -> str:
    seen = gateway_record.get("last_seen")
    return seen.strftime("%Y-%m-%d %H:%M:%S UTC") if seen else "never"


def _connector(gateway_record) -> str:
    installed = gateway().upstream_connectors
    return "installed" if gateway_record.get("transport") in installed else "none installed: not connected"


PANEL = EntityPages(
    id="gateways",
    title="Gateways",
    singular="gateway",
    order=50,
    intro="Upstream MCP servers and peer gateways whose catalogs are federated into this one.",
    fields=(
        NAME,
        FormField(
            "url",
            "URL",
            required=True,
            help="http(s):// for HTTP transports, ws(s):// for WebSocket, the command line for stdio.",
        ),
        FormField("transport", "Transport", "select", choices=TRANSPORTS),
        DESCRIPTION,
        FormField(
            "headers",
            "Headers (JSON object, optional)",
            "json",
            rows=3,
            help='Sent to the upstream, e.g. {"Authorization": "Bearer ..."}.',
        ),
        FormField("enabled", "Enabled", "checkbox"),
    ),
    columns=(
        Column("Name", "name", "link"),
        Column("URL", "url", "code"),
        Column("Transport", "transport"),
        Column("Connector", _connector),
        Column("Connection", "state", "state"),
        Column("Last seen", _seen),
        Column("Last error", "last_error", "error"),
    ),
    defaults={"enabled": True, "transport": "streamable_http"},
)
