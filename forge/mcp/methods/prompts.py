"""prompts/list and prompts/get.

Layer: protocol, over `forge.services.prompts`.
"""

from __future__ import annotations

from forge.mcp.client_requests import asker
from forge.mcp.jsonrpc import INVALID_PARAMS, McpError
from forge.mcp.methods.scope import optional_object, page, required_string, scope_of
from forge.services import prompts


async def list_prompts(gateway, params: dict, context) -> dict:
    return page(scope_of(gateway, context).listed["prompts"], params, "prompts")


async def get_prompt(gateway, params: dict, context) -> dict:
    name = required_string(params, "name")
    arguments = optional_object(params, "arguments")
    prompt = scope_of(gateway, context).prompts.get(name)
    if prompt is None:
        raise McpError(INVALID_PARAMS, f"Unknown prompt: {name}")
    try:
        invocation = context.invocation(params, asker(context))
        return await prompts.get_prompt(gateway, prompt, arguments, context.principal, invocation)
    except prompts.PromptError as error:
        raise McpError(INVALID_PARAMS, f"Invalid params: {error}") from None
