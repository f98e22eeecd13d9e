"""Forge plugin: MCP's HTTP+SSE transport of 2024-11-05, for clients that predate Streamable HTTP.

Serves `GET /sse` and `GET /servers/{server_id}/sse` (the event stream, whose first event names
the message URL) and `POST /message` and `POST /servers/{server_id}/message` (one JSON-RPC message
per request, `?session_id=` from the endpoint event); see `forge_plugins.transport_sse.server`.
Authentication, authorization and the Origin check are those of Streamable HTTP.
Settings: SSE_KEEPALIVE_SECONDS. Disable it with PLUGINS_DISABLED=transport_sse.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from forge.contracts import AsgiRoute, Transport
from forge.hookspecs import hookimpl
from forge_plugins.transport_sse.server import KEEPALIVE_SECONDS, LegacySse


class SseSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SSE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    keepalive_seconds: float = Field(
        KEEPALIVE_SECONDS, gt=0, description="Idle seconds before an open stream gets a keep-alive comment."
    )


@hookimpl
def forge_settings_sections():
    return SseSettings


@hookimpl
def forge_transports(gateway):
    sse = LegacySse(gateway, keepalive=gateway.plugin_settings["SseSettings"].keepalive_seconds)
    return Transport(
        name="sse",
        routes=(
            AsgiRoute("/sse", sse.stream, "sse"),
            AsgiRoute("/message", sse.message, "sse_message"),
            AsgiRoute("/servers/{server_id}/sse", sse.stream, "server_sse"),
            AsgiRoute("/servers/{server_id}/message", sse.message, "server_sse_message"),
        ),
    )
