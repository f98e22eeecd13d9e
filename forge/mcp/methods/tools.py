"""tools/list and tools/call.

Layer: protocol, over `forge.services.tools`.
"""

from __future__ import annotations

from forge.mcp.client_requests import asker
from forge.mcp.jsonrpc import INVALID_PARAMS, McpError
from forge.mcp.methods.scope import optional_object, page, required_string, scope_of
from forge.services import tools


async def list_tools(gateway, params: dict, context) -> dict:
    return page(scope_of(gateway, context).listed["tools"], params, "tools")


async def call_tool(gateway, params: dict, context) -> dict:
    name = required_string(params, "name")
    arguments = optional_object(params, "arguments")
    tool = scope_of(gateway, context).tools.get(name)
    if tool is None:
        raise McpError(INVALID_PARAMS, f"Unknown tool: {name}")
    invocation = context.invocation(params, asker(context))
    return await tools.call_tool(gateway, tool, arguments, context.principal, context.server_id, invocation)
