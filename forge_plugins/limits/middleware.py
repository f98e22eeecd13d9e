"""The MCP side of the limits: one `forge_mcp_middleware` in front of every transport's messages.

Layer: plugin (limits), between the transports and the engine. In order, for each message:
1. its shape (MAX_JSON_DEPTH, MAX_STRING_CHARS): a request past them is answered -32600, a
   notification or a client's response past them is dropped;
2. for a request, the principal's rate limit, and for tools/call of a catalogued tool that tool's
   limit. Over a limit the request is answered with JSON-RPC error RATE_LIMITED (-32010, in the
   range JSON-RPC leaves to implementations) whose `data.retryAfter` is the seconds to wait;
   over HTTP that is a 200 answer on /mcp (MCP clients read JSON-RPC errors, not statuses) and
   429 with Retry-After on the plain JSON-RPC endpoint /rpc.
"""

from __future__ import annotations

from forge.mcp import jsonrpc
from forge.mcp.jsonrpc import INVALID_REQUEST, McpError
from forge_plugins.limits.rate import RateLimits
from forge_plugins.limits.shape import shape_problem

RATE_LIMITED = -32010


def rate_limited(what: str, retry_after: int) -> McpError:
    return McpError(
        RATE_LIMITED, f"Rate limit exceeded for {what}: retry in {retry_after} s", {"retryAfter": retry_after}
    )


class LimitsMiddleware:
    def __init__(self, gateway, settings, rates: RateLimits | None):
        self.gateway = gateway
        self.max_depth = settings.max_json_depth
        self.max_chars = settings.max_string_chars
        self.rates = rates

    async def __call__(self, message, connection, call_next):
        if type(message) is not dict:
            return await call_next(message, connection)
        is_request = "method" in message and "id" in message
        problem = shape_problem(message, self.max_depth, self.max_chars)
        if problem is not None:
            if is_request:
                return jsonrpc.error(jsonrpc.readable_id(message), McpError(INVALID_REQUEST, f"Invalid Request: {problem}"))
            return None
        if is_request and self.rates is not None:
            refusal = await self._over_limit(message, connection)
            if refusal is not None:
                return jsonrpc.error(jsonrpc.readable_id(message), refusal)
        return await call_next(message, connection)

    async def _over_limit(self, message: dict, connection) -> McpError | None:
        rates = self.rates
        principal = connection.principal
        if rates.per_principal:
            wait = await rates.retry_after(rates.per_principal, "principal", principal.name)
            if wait is not None:
                return rate_limited(f"principal {principal.name!r}", wait)
        params = message.get("params")
        if message.get("method") == "tools/call" and type(params) is dict and type(params.get("name")) is str:
            tool = self._tool(params["name"], connection.server_id)
            limits = rates.tool_limits(params["name"]) if tool is not None else ()
            if limits:
                wait = await rates.retry_after(limits, "tool", tool["id"])
                if wait is not None:
                    return rate_limited(f"tool {params['name']!r}", wait)
        return None

    def _tool(self, name: str, server_id: str | None):
        """The catalogued tool of that name, or None: names nobody serves get no counter."""
        scope = self.gateway.catalog.scope(server_id)
        return scope.tools.get(name) if scope is not None else None
