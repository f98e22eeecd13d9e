"""completion/complete: values for a prompt argument or a resource template variable.

Layer: protocol, over `forge.services.completion`.
"""

from __future__ import annotations

from forge.mcp.jsonrpc import INVALID_PARAMS, McpError
from forge.mcp.methods.scope import optional_object, scope_of
from forge.services import completion, federated


async def complete(gateway, params: dict, context) -> dict:
    ref = optional_object(params, "ref")
    argument = optional_object(params, "argument")
    name, value = argument.get("name"), argument.get("value", "")
    if not isinstance(name, str) or not isinstance(value, str):
        raise McpError(INVALID_PARAMS, "Invalid params: argument needs a string name and value")
    scope = scope_of(gateway, context)
    if ref.get("type") == "ref/prompt":
        prompt = scope.prompts.get(ref.get("name"))
        if prompt is None:
            raise McpError(INVALID_PARAMS, f"Unknown prompt: {ref.get('name')}")
        if federated.is_federated(prompt):
            return await federated.adapter(gateway).complete(prompt, params, context.invocation(params, None))
        return {"completion": completion.complete_prompt_argument(prompt, name, value)}
    if ref.get("type") == "ref/resource":
        uri = ref.get("uri")
        template = next((r for t, r in scope.templates if r["uri"] == uri), None)
        if template is None:
            raise McpError(INVALID_PARAMS, f"Unknown resource template: {uri}")
        if federated.is_federated(template):
            return await federated.adapter(gateway).complete(template, params, context.invocation(params, None))
        return {"completion": completion.complete_template_variable(template, name, value)}
    raise McpError(INVALID_PARAMS, "Invalid params: ref.type must be ref/prompt or ref/resource")
