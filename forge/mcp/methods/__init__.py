"""MCP method tables: which handler serves which method, in each protocol era.

Layer: protocol. Each handler is `async def handler(gateway, params, context) -> result dict`.
Adding a method is adding an entry here, never a branch in a transport.
"""

from forge.mcp.methods import completion, lifecycle, prompts, resources, tools

# Served in both eras.
COMMON_METHODS = {
    "tools/list": tools.list_tools,
    "tools/call": tools.call_tool,
    "resources/list": resources.list_resources,
    "resources/templates/list": resources.list_templates,
    "resources/read": resources.read_resource,
    "prompts/list": prompts.list_prompts,
    "prompts/get": prompts.get_prompt,
    "completion/complete": completion.complete,
}

HANDSHAKE_METHODS = {
    **COMMON_METHODS,
    "initialize": lifecycle.initialize,
    "ping": lifecycle.ping,
    "logging/setLevel": lifecycle.set_log_level,
    "resources/subscribe": resources.subscribe,
    "resources/unsubscribe": resources.unsubscribe,
}

MODERN_METHODS = {
    **COMMON_METHODS,
    "server/discover": lifecycle.discover,
    "subscriptions/listen": lifecycle.listen,
}

# 2026-07-28 results that carry cache hints (ttlMs, cacheScope).
CACHEABLE_METHODS = frozenset(
    {"server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"}
)
