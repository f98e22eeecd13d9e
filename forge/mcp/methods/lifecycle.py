"""initialize, ping and logging/setLevel (handshake era); server/discover and
subscriptions/listen (2026-07-28).

Layer: protocol.
"""

from __future__ import annotations

from forge.mcp.jsonrpc import INVALID_PARAMS, McpError
from forge.mcp.methods.scope import optional_object
from forge.mcp.versions import LOG_LEVELS, MODERN_VERSIONS, negotiate

INSTRUCTIONS = "Forge gateway: the tools, resources and prompts of this endpoint are federated and managed by Forge."


def capabilities() -> dict:
    return {
        "tools": {"listChanged": True},
        "resources": {"subscribe": True, "listChanged": True},
        "prompts": {"listChanged": True},
        "logging": {},
        "completions": {},
    }


async def initialize(gateway, params: dict, context) -> dict:
    session = context.session
    session.protocol_version = negotiate(params.get("protocolVersion"))
    session.client_info = optional_object(params, "clientInfo")
    session.client_capabilities = optional_object(params, "capabilities")
    session.initialized = True  # requests racing `notifications/initialized` are served
    return with_server_meta(gateway, {
        "protocolVersion": session.protocol_version,
        "capabilities": capabilities(),
        "serverInfo": gateway.engine.server_info,
        "instructions": INSTRUCTIONS,
    })


async def ping(gateway, params: dict, context) -> dict:
    return {}


async def set_log_level(gateway, params: dict, context) -> dict:
    level = params.get("level")
    if level not in LOG_LEVELS:
        raise McpError(INVALID_PARAMS, f"Invalid params: level must be one of {', '.join(LOG_LEVELS)}")
    context.session.log_level = level
    return {}


async def discover(gateway, params: dict, context) -> dict:
    result = {"supportedVersions": list(MODERN_VERSIONS), "capabilities": capabilities(), "instructions": INSTRUCTIONS}
    return with_server_meta(gateway, result)


def with_server_meta(gateway, result: dict) -> dict:
    """`result` with the `_meta` plugins put in `gateway.server_meta` (e.g. federation's instance id)."""
    if gateway.server_meta:
        result["_meta"] = dict(gateway.server_meta)
    return result


async def listen(gateway, params: dict, context):
    """Answer a `Subscription` the transport streams; it acknowledges first, then relays changes."""
    wanted = optional_object(params, "notifications")
    return gateway.engine.subscriptions.open(context.request_id, wanted, context.principal)
