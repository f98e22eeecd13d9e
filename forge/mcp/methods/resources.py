"""resources/list, resources/templates/list, resources/read, and the handshake era's subscribe.

Layer: protocol, over `forge.services.resources`.
"""

from __future__ import annotations

from forge.mcp.client_requests import asker
from forge.mcp.jsonrpc import INVALID_PARAMS, RESOURCE_NOT_FOUND, McpError
from forge.mcp.methods.scope import page, required_string, scope_of
from forge.services import resources


async def list_resources(gateway, params: dict, context) -> dict:
    return page(scope_of(gateway, context).listed["resources"], params, "resources")


async def list_templates(gateway, params: dict, context) -> dict:
    return page(scope_of(gateway, context).listed["resourceTemplates"], params, "resourceTemplates")


async def read_resource(gateway, params: dict, context) -> dict:
    uri = required_string(params, "uri")
    try:
        invocation = context.invocation(params, asker(context))
        return await resources.read_resource(gateway, scope_of(gateway, context), uri, context.principal, invocation)
    except McpError as error:
        if error.code == RESOURCE_NOT_FOUND and context.modern:
            # 2026-07-28 retired -32002: an unknown resource is invalid params.
            raise McpError(INVALID_PARAMS, error.message, error.data) from None
        raise


async def subscribe(gateway, params: dict, context) -> dict:
    context.session.subscriptions.add(required_string(params, "uri"))
    return {}


async def unsubscribe(gateway, params: dict, context) -> dict:
    context.session.subscriptions.discard(required_string(params, "uri"))
    return {}
