"""Prompt rendering: Jinja templates in a sandbox, arguments checked against the prompt's schema.

Layer: services. Called by the MCP engine for prompts/get and by the management API to check a
template when it is stored. Compiled templates are kept per (prompt id, last update).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from forge.plugins import has_implementations, rewrite_chain
from forge.services import federated
from forge.services.tools import argument_problems

# Sandboxed: a stored template can reach no Python internals; undefined names fail loudly.
_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class PromptError(ValueError):
    """The arguments do not fit the prompt, or the template cannot render with them."""


def check_template(source: str) -> None:
    """Raise `PromptError` when `source` is not a valid Jinja template."""
    try:
        _environment.parse(source)
    except TemplateError as error:
        raise PromptError(f"invalid template: {error}") from None


@lru_cache(maxsize=4096)
def _compiled(prompt_id: str, updated_at: Any, source: str):
    return _environment.from_string(source)


def render_text(prompt: Mapping[str, Any], arguments: Mapping[str, Any]) -> str:
    problems = argument_problems(prompt.get("argument_schema"), arguments)
    if problems:
        raise PromptError(f"invalid arguments for prompt {prompt['name']!r}: " + "; ".join(problems))
    template = _compiled(prompt["id"], prompt.get("updated_at"), prompt["template"])
    try:
        return template.render(**arguments)
    except TemplateError as error:
        raise PromptError(f"prompt {prompt['name']!r} could not render: {error}") from None


async def get_prompt(
    gateway, prompt: Mapping[str, Any], arguments: Mapping[str, Any], principal, invocation=None
) -> dict:
    """A GetPromptResult dict for `prompt` with `arguments`, through the prompt invocation hooks."""
    hooks = gateway.hook
    if has_implementations(hooks.forge_before_prompt_render):
        arguments = await rewrite_chain(
            hooks.forge_before_prompt_render, "arguments", gateway=gateway, prompt=prompt,
            arguments=arguments, principal=principal,
        )
    if federated.is_federated(prompt):
        result = await federated.adapter(gateway).get_prompt(prompt, arguments, invocation)
    else:
        result = {"messages": [{"role": "user", "content": {"type": "text", "text": render_text(prompt, arguments)}}]}
        if prompt.get("description"):
            result["description"] = prompt["description"]
    if has_implementations(hooks.forge_after_prompt_render):
        result = await rewrite_chain(
            hooks.forge_after_prompt_render, "result", gateway=gateway, prompt=prompt, result=result,
            principal=principal,
        )
    return result
