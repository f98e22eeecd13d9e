"""Tool calls: argument validation, the invocation hooks, the adapter, metrics.

Layer: services. The MCP engine calls `call_tool` for tools/call; the adapter registry
(`gateway.adapters`, filled by `forge_tool_adapters`) does the I/O. Input schemas are compiled
once per tool definition and kept while the definition lasts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

import orjson
from jsonschema import Draft202012Validator, validators

from forge.contracts import InvocationRejected, ToolCall
from forge.plugins import has_implementations, rewrite_chain


def error_result(message: str) -> dict:
    return {"content": [{"type": "text", "text": message}], "isError": True}


@lru_cache(maxsize=65536)
def _compiled(schema_json: bytes):
    schema = orjson.loads(schema_json)
    validator_class = validators.validator_for(schema, default=Draft202012Validator)
    return validator_class(schema)


def validator_for(schema: Mapping[str, Any]):
    """A compiled validator for `schema`; equal schemas share one."""
    return _compiled(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))


def argument_problems(schema: Mapping[str, Any] | None, arguments: Mapping[str, Any]) -> list[str]:
    if not schema:
        return []
    validator = validator_for(schema)
    if validator.is_valid(arguments):  # the usual case, at half the cost of collecting errors
        return []
    return [
        f"{'/'.join(map(str, error.absolute_path)) or 'arguments'}: {error.message}"
        for error in validator.iter_errors(arguments)
    ]


async def call_tool(
    gateway, tool: Mapping[str, Any], arguments: Mapping[str, Any], principal, server_id=None, invocation=None
) -> dict:
    """Run one tool call end to end and answer a CallToolResult dict.

    Invalid arguments, a refusal by a guardrail and upstream failures are `isError` results the
    model can read and correct, as the specification asks; they never raise.
    """
    problems = argument_problems(tool.get("input_schema"), arguments)
    if problems:
        return error_result(f"Invalid arguments for tool {tool['name']!r}: " + "; ".join(problems))
    call = ToolCall(name=tool["name"], arguments=arguments, tool=tool, principal=principal, server_id=server_id)
    hooks = gateway.hook
    started = time.perf_counter()
    try:
        if has_implementations(hooks.forge_before_tool_call):
            call = await rewrite_chain(
                hooks.forge_before_tool_call, "call", lambda old, arguments: replace(old, arguments=arguments),
                gateway=gateway, call=call,
            )
        adapter = gateway.adapters.get(tool.get("integration_type", "REST").upper())
        if adapter is None:
            result = error_result(f"no adapter is installed for integration type {tool.get('integration_type')!r}")
        else:
            result = await adapter.invoke(call.tool, call.arguments, invocation)
        if has_implementations(hooks.forge_after_tool_call):
            result = await rewrite_chain(hooks.forge_after_tool_call, "result", gateway=gateway, call=call, result=result)
    except InvocationRejected as rejection:
        result = error_result(f"Tool call refused: {rejection}")
    gateway.metrics.record(tool["id"], (time.perf_counter() - started) * 1000, bool(result.get("isError")))
    return result
