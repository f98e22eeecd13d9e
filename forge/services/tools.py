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

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator, validators
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

from forge.contracts import InvocationRejected, ToolCall
from forge.plugins import has_implementations, rewrite_chain


def error_result(message: str) -> dict:
    return {"content": [{"type": "text", "text": message}], "isError": True}


SCHEMAS_KEPT = 10_000  # schema dicts (one per tool or prompt definition) kept compiled by identity


def _refuse_remote(uri: str):
    """The retriever of both validators for any `$ref` outside the schema itself: fetching one
    would let whoever writes a schema make the gateway connect anywhere (SSRF)."""
    raise NoSuchResource(ref=uri)


class _PythonKeyword:
    """A jsonschema-rs keyword whose answer comes from the Python `jsonschema` library, for the
    keywords where the two could disagree with rs the laxer: `pattern` (Python's `re` against
    Rust's regex dialect) and `multipleOf` (Python fails 0.07 against 0.01; rs passes it)."""

    def __init__(self, parent_schema: Mapping[str, Any], value: Any, schema_path: list) -> None:
        keyword = schema_path[-1]
        self.python = Draft202012Validator({keyword: value})  # both keywords mean the same in every draft

    def validate(self, instance: Any) -> None:
        if not self.python.is_valid(instance):
            raise ValueError("invalid")  # rs only needs the verdict; messages come from Python


_PYTHON_KEYWORDS = {"pattern": _PythonKeyword, "multipleOf": _PythonKeyword}


def _mentions(schema: Any, keyword: str) -> bool:
    """Whether `keyword` is a key anywhere in `schema` (also as a property name: erring toward yes)."""
    if isinstance(schema, Mapping):
        return keyword in schema or any(_mentions(value, keyword) for value in schema.values())
    if isinstance(schema, list):
        return any(_mentions(value, keyword) for value in schema)
    return False


class CompiledSchema:
    """The validators of one input schema: `python`, the `jsonschema` validator, the authority and
    the source of every message; and `fast`, a jsonschema-rs validator of the same draft, or None.

    `fast` only ever answers "valid" quickly: it validates no formats (Python's validator has no
    format checker), fetches no remote `$ref`, and takes `pattern` and `multipleOf` from Python,
    so it is never laxer. Where it is stricter, Python's errors decide. A schema rs cannot compile,
    or one with `patternProperties` (whose keys rs would match with Rust's regexes), has no `fast`.
    """

    __slots__ = ("python", "fast")

    def __init__(self, schema: Mapping[str, Any]):
        validator_class = validators.validator_for(schema, default=Draft202012Validator)
        self.python = validator_class(schema, registry=Registry(retrieve=_refuse_remote))
        self.fast = None
        rs_class = getattr(jsonschema_rs, validator_class.__name__, None)  # same draft or none
        if rs_class is not None and not _mentions(schema, "patternProperties"):
            try:
                self.fast = rs_class(
                    schema, validate_formats=False, retriever=_refuse_remote, keywords=_PYTHON_KEYWORDS
                )
            except Exception:  # noqa: BLE001 - whatever rs refuses, Python validates alone
                self.fast = None

    def problems(self, arguments: Any) -> list[str]:
        fast = self.fast
        if fast is not None:
            try:
                if fast.is_valid(arguments):
                    return []
            except Exception:  # noqa: BLE001 - e.g. a value rs cannot convert; Python decides
                pass
        elif self.python.is_valid(arguments):  # the usual case, at half the cost of collecting errors
            return []
        return [
            f"{'/'.join(map(str, error.absolute_path)) or 'arguments'}: {error.message}"
            for error in self.python.iter_errors(arguments)
        ]


@lru_cache(maxsize=65536)
def _compiled_by_content(schema_json: bytes) -> CompiledSchema:
    return CompiledSchema(orjson.loads(schema_json))


# id(schema) -> (schema, its compiled validators): a catalog's tool dicts live until a write
# replaces them, so a definition's schema is serialized and looked up once, not on every call;
# holding the schema keeps its id from reuse.
_compiled_by_identity: dict[int, tuple[Mapping[str, Any], CompiledSchema]] = {}


def compiled_schema(schema: Mapping[str, Any]) -> CompiledSchema:
    """The compiled validators of `schema`, kept per schema object; equal schemas share one."""
    kept = _compiled_by_identity.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    compiled = _compiled_by_content(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    if len(_compiled_by_identity) >= SCHEMAS_KEPT:
        _compiled_by_identity.clear()
    _compiled_by_identity[id(schema)] = (schema, compiled)
    return compiled


def validator_for(schema: Mapping[str, Any]):
    """The compiled Python `jsonschema` validator for `schema`; equal schemas share one."""
    return compiled_schema(schema).python


def argument_problems(schema: Mapping[str, Any] | None, arguments: Mapping[str, Any]) -> list[str]:
    """Why `arguments` do not fit `schema`, one message per problem: [] when they fit.

    A `$ref` outside the schema is never fetched; arguments that reach one are a problem.
    """
    if not schema:
        return []
    try:
        return compiled_schema(schema).problems(arguments)
    except Unresolvable as unresolved:
        ref = unresolved.ref
        return [f"arguments: the schema's $ref {ref!r} cannot be resolved (remote schemas are never fetched)"]


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
