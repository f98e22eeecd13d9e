"""tools/list and tools/call.

Layer: protocol, over `forge.services.tools`.
"""

from __future__ import annotations

from forge.mcp.client_requests import asker
from forge.mcp.jsonrpc import INVALID_PARAMS, McpError
from forge.mcp.methods.scope import optional_object, page, required_string, scope_of
from forge.mcp.param_headers import check_param_headers
from forge.services import tools


async def list_tools(gateway, params: dict, context) -> dict:
    return page(scope_of(gateway, context).listed["tools"], params, "tools")


async def call_tool(gateway, params: dict, context) -> dict:
    name = required_string(params, "name")
    arguments = optional_object(params, "arguments")
    tool = scope_of(gateway, context).tools.get(name)
    if tool is None:
        raise McpError(INVALID_PARAMS, unknown_tool(gateway.catalog, name, context.server_id))
    connection = context.connection
    if context.modern and connection.routing_headers is not None and connection.headers is not None:
        check_param_headers(tool.get("input_schema"), arguments, connection.headers)
    invocation = context.invocation(params, asker(context))
    return await tools.call_tool(gateway, tool, arguments, context.principal, context.server_id, invocation)


def unknown_tool(catalog, name: str, server_id: str | None) -> str:
    """Why `name` cannot be called: it is unknown here, or the upstream gateway offering it is down
    or disabled (its tools are out of the lists meanwhile). Only on this error path is the whole
    catalog searched."""
    members = None if server_id is None else set(catalog.server_records[server_id].get("tool_ids") or ())
    for tool in catalog.entities["tools"].values():
        if tool["name"] != name or tool.get("gateway_id") not in catalog.hidden:
            continue
        if members is not None and tool["id"] not in members:
            continue
        upstream = catalog.entities["gateways"].get(tool["gateway_id"]) or {}
        if not upstream.get("enabled", True):
            return f"Tool {name} is unavailable: its gateway {upstream.get('name')!r} is disabled"
        why = upstream.get("last_error") or "unhealthy"
        return f"Tool {name} is unavailable: upstream {upstream.get('name')!r} is down ({why})"
    return f"Unknown tool: {name}"
