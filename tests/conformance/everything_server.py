#!/usr/bin/env python3
"""An upstream MCP server holding every fixture of the conformance suite, for both protocol eras.

The official suite (`@modelcontextprotocol/conformance`, run by `shared/conformance/run.sh`) calls
fixtures by name: the tools, resources, prompts and completions of its reference "everything"
server (examples/servers/typescript/everything-server.ts in modelcontextprotocol/conformance).
This module defines the same fixtures, with the same names, input schemas and answers, with the
official Python SDK (`mcp` 2.3), so the suite can be pointed at it directly, or at a Forge that
federates it:

    python tests/conformance/everything_server.py http --port 8123   # streamable HTTP at /mcp
    python tests/conformance/everything_server.py stdio

One endpoint serves both eras (the SDK routes each request by its protocol version):

- 2025-11-25 (handshake): initialize + sessions; sampling, elicitation and roots are
  server-to-client requests on the tool call's POST SSE stream; logging follows
  `logging/setLevel`; `resources/subscribe`/`unsubscribe` are served; list changes go out on the
  session's GET stream. An event store gives POST streams priming events and lets
  `test_reconnection` close its stream mid-call (the client resumes with Last-Event-ID).
- 2026-07-28 (stateless): the same interactive fixtures answer `InputRequiredResult`
  (`resultType: "input_required"`) and continue from `inputResponses` and `requestState` on the
  retry; the SDK seals every `requestState` (AES-GCM, bound to method, target and arguments) and
  rejects a tampered one with -32602 before the handler runs. Capabilities are read per request
  from `_meta`; logging needs the request's `_meta` log level; list changes go to
  `subscriptions/listen` streams.

Every interactive fixture is written once, as a step function from (answers so far, state,
client capabilities) to either its result or the input it still needs; `_interact` runs it as
server-to-client requests in the handshake era and as InputRequiredResult rounds in 2026-07-28.
Fixtures the reference server only lists at 2026-07-28 are listed in both eras here (a gateway
can only relay what it can list), and behave sensibly in both; so are the trigger tools, which
the reference does not list at all. One fixture is extra: `test_x_mcp_header` (as in the SDK's
own everything server), a tool with an `x-mcp-header` argument for the pending SEP-2243
Mcp-Param-* scenario.

    tests/conformance/run_everything.sh      # the suite against this server alone, both eras
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import re
import sys
import uuid
import warnings
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp.types as types
from mcp import MCPDeprecationWarning, MCPError
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.caching import CacheHint
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.subscriptions import PromptsListChanged, ToolsListChanged
from mcp_types.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, MISSING_REQUIRED_CLIENT_CAPABILITY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

# Logging, roots, sampling and resources/subscribe are deprecated at 2026-07-28, and still served.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

NAME = "mcp-conformance-test-server"  # the reference server's serverInfo
VERSION = "1.0.0"

# The suite's own fixture payloads: a 1x1 PNG and a minimal WAV.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}
RESOURCE_NOT_FOUND = -32002  # the handshake era's code; 2026-07-28 uses -32602 with data.uri
RETRY_INTERVAL_MS = 500  # the `retry:` of priming events on handshake-era POST streams

# The json-schema-2020-12 scenario checks that tools/list keeps this inputSchema verbatim.
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def _compact(value: Any) -> str:
    """JSON as JavaScript's JSON.stringify writes it (the reference server's answers use it)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _result(*content: Any, is_error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=list(content), is_error=is_error)


def _is_modern(ctx: ServerRequestContext) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


# ----------------------------------------------------------------------------------------------
# Server state shared by both eras


bus = InMemorySubscriptionBus()  # 2026-07-28: feeds subscriptions/listen streams

# Handshake-era sessions seen lately, by Mcp-Session-Id ("stdio" on stdio): a list change is
# announced on each one's standalone channel (the GET stream), as a server-wide change should be.
_legacy_sessions: OrderedDict[str, Any] = OrderedDict()
_MAX_LEGACY_SESSIONS = 256
_log_levels: dict[str, str] = {}  # session -> level from logging/setLevel
_subscriptions: dict[str, set[str]] = {}  # uri -> sessions (resources/subscribe)
_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


def _session_key(ctx: ServerRequestContext) -> str | None:
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return "stdio" if request is None else None
    return headers.get("mcp-session-id")


async def _track_legacy_sessions(ctx: ServerRequestContext, call_next: Callable[..., Awaitable[Any]]) -> Any:
    """Middleware: remember the handshake-era sessions, to announce list changes on them."""
    if ctx.request_id is not None and ctx.method != "initialize" and not _is_modern(ctx):
        key = _session_key(ctx)
        if key is not None:
            _legacy_sessions[key] = ctx.session
            _legacy_sessions.move_to_end(key)
            while len(_legacy_sessions) > _MAX_LEGACY_SESSIONS:
                _legacy_sessions.popitem(last=False)
    return await call_next(ctx)


async def _announce_to_legacy_sessions(method: str) -> None:
    for key, session in list(_legacy_sessions.items()):
        try:
            with anyio.fail_after(2):
                await getattr(session, method)()
        except Exception:  # a closed session: forget it
            _legacy_sessions.pop(key, None)


async def _log(ctx: ServerRequestContext, level: str, data: Any) -> None:
    """A request-scoped notifications/message.

    2026-07-28: the SDK sends it only when the request's `_meta` named a log level at or below
    `level`. Handshake era: sent on the request's stream unless `logging/setLevel` asked for less.
    """
    if not _is_modern(ctx):
        threshold = _log_levels.get(_session_key(ctx) or "", "debug")
        if _LEVELS.index(level) < _LEVELS.index(threshold):
            return
    await ctx.session.send_log_message(level=level, data=data, related_request_id=ctx.request_id)


def _progress_token(ctx: ServerRequestContext) -> Any:
    meta = ctx.meta or {}
    token = meta.get("progress_token") if isinstance(meta, Mapping) else None
    if token is None and isinstance(meta, Mapping):
        token = meta.get("progressToken")
    return token


# ----------------------------------------------------------------------------------------------
# Interactive fixtures: one step function, two wires


@dataclass
class NeedInput:
    """What a step still needs: input requests by key, and the state to resume from."""

    requests: dict[str, types.ElicitRequest | types.CreateMessageRequest | types.ListRootsRequest]
    state: str | None = None


# (answers keyed like the requests, as wire JSON; state; the client's capabilities) -> result | NeedInput
Step = Callable[[dict[str, Any], "str | None", "types.ClientCapabilities | None"], Any]

_CAPABILITY_OF = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}
_RESULT_TYPE_OF: dict[str, type[Any]] = {
    "elicitation/create": types.ElicitResult,
    "sampling/createMessage": types.CreateMessageResult,
    "roots/list": types.ListRootsResult,
}


class InputUnavailable(Exception):
    """Handshake era: the client could not answer a server-to-client request."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = _CAPABILITY_OF[method].capitalize()  # "Elicitation", "Sampling", "Roots"


def _missing_capabilities(need: NeedInput, caps: types.ClientCapabilities | None) -> dict[str, dict]:
    missing: dict[str, dict] = {}
    for request in need.requests.values():
        name = _CAPABILITY_OF[request.method]
        if caps is None or getattr(caps, name, None) is None:
            missing[name] = {}
    return missing


def _dump(model: Any) -> Any:
    if hasattr(model, "model_dump"):
        return model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return model


async def _ask_client(ctx: ServerRequestContext, request: Any) -> Any:
    """Handshake era: one server-to-client request, on the POST SSE stream of the call it serves."""
    result = await ctx.session.send_request(
        request,
        _RESULT_TYPE_OF[request.method],
        request_read_timeout_seconds=120,
        metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
    )
    return _dump(result)


async def _interact(
    ctx: ServerRequestContext, params: types.InputResponseRequestParams, step: Step, *, max_rounds: int = 8
) -> Any:
    """Runs `step` to its result over this request's era.

    2026-07-28: one round per request. The step sees this request's `inputResponses` and its
    `requestState` (already unsealed by the SDK); what it still needs goes back as an
    InputRequiredResult, whose `requestState` the SDK seals. Asking for a capability this
    request's `_meta` did not declare is refused with -32021.
    Handshake era: all rounds in this one call, each input request sent to the client on the
    call's own POST stream (related_request_id) and its answer fed to the next round.
    """
    caps = ctx.session.client_capabilities  # per request at 2026-07-28, from initialize before
    if _is_modern(ctx):
        answers = {key: _dump(value) for key, value in (params.input_responses or {}).items()}
        outcome = step(answers, params.request_state, caps)
        if not isinstance(outcome, NeedInput):
            return outcome
        missing = _missing_capabilities(outcome, caps)
        if missing:  # an input request may only use what this request's clientCapabilities declare
            raise MCPError(
                code=MISSING_REQUIRED_CLIENT_CAPABILITY,
                message=f"Missing required client capability: {', '.join(missing)}",
                data={"requiredCapabilities": missing},
            )
        return types.InputRequiredResult(input_requests=outcome.requests, request_state=outcome.state)
    answers, state = {}, None
    for _ in range(max_rounds):
        outcome = step(answers, state, caps)
        if not isinstance(outcome, NeedInput):
            return outcome
        answers = {}
        for key, request in outcome.requests.items():
            capability = _CAPABILITY_OF[request.method]
            if caps is None or getattr(caps, capability, None) is None:  # declared at initialize
                raise InputUnavailable(request.method, f"the client did not declare {capability}")
            try:
                answers[key] = await _ask_client(ctx, request)
            except MCPError as exc:
                raise InputUnavailable(request.method, exc.error.message) from exc
            except Exception as exc:  # no back channel (e.g. a JSON-only or stateless transport), timeout
                raise InputUnavailable(request.method, str(exc) or type(exc).__name__) from exc
        state = outcome.state
    raise MCPError(code=INTERNAL_ERROR, message="Too many input rounds")


def _elicit(message: str, schema: dict[str, Any]) -> types.ElicitRequest:
    return types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(text: str, max_tokens: int) -> types.CreateMessageRequest:
    return types.CreateMessageRequest(
        params=types.CreateMessageRequestParams(
            messages=[types.SamplingMessage(role="user", content=_text(text))], max_tokens=max_tokens
        )
    )


def _list_roots() -> types.ListRootsRequest:
    return types.ListRootsRequest(params=types.RequestParams())


def _schema(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _field(answer: Any, name: str) -> str:
    """A string field of an elicitation answer's content ('unknown' otherwise, as the reference)."""
    content = answer.get("content") if isinstance(answer, dict) else None
    value = content.get(name) if isinstance(content, dict) else None
    return value if isinstance(value, str) else "unknown"


def _sampled_text(answer: Any, default: str) -> str:
    content = answer.get("content") if isinstance(answer, dict) else None
    if isinstance(content, list):
        content = next((c for c in content if isinstance(c, dict) and c.get("type") == "text"), None)
    text = content.get("text") if isinstance(content, dict) else None
    return text if isinstance(text, str) else default


def _roots(answer: Any) -> list[Any]:
    roots = answer.get("roots") if isinstance(answer, dict) else None
    return roots if isinstance(roots, list) else []


def _elicited(answer: Any) -> str:
    content = answer.get("content") if isinstance(answer, dict) else None
    return f"action={answer.get('action')}, content={_compact(content or {})}"


def _state(value: str | None) -> dict[str, Any]:
    try:
        decoded = json.loads(value) if value else None
    except ValueError:
        decoded = None
    return decoded if isinstance(decoded, dict) else {}


# The reference signs these states itself (HMAC-SHA256, {data, hmac}); the SDK seals them again.
_STATE_SECRET = os.urandom(32)


def _mac(data: str) -> str:
    return hmac.new(_STATE_SECRET, data.encode(), hashlib.sha256).hexdigest()


def _sign(payload: dict[str, Any]) -> str:
    data = _compact(payload)
    return _compact({"data": data, "hmac": _mac(data)})


def _verify(raw: str) -> dict[str, Any] | None:
    envelope = _state(raw)
    data, mac = envelope.get("data"), envelope.get("hmac")
    if not isinstance(data, str) or not isinstance(mac, str):
        return None
    return _state(data) if hmac.compare_digest(mac, _mac(data)) else None


def _nonce() -> str:
    return str(uuid.uuid4())


# ----------------------------------------------------------------------------------------------
# Tools


@dataclass
class ToolFixture:
    name: str
    description: str
    run: Callable[[ServerRequestContext, types.CallToolRequestParams], Awaitable[Any]]
    input_schema: dict[str, Any] = field(default_factory=lambda: dict(NO_ARGUMENTS))

    def tool(self) -> types.Tool:
        return types.Tool(name=self.name, description=self.description, input_schema=self.input_schema)


TOOLS: dict[str, ToolFixture] = {}


def tool(name: str, description: str, input_schema: dict[str, Any] | None = None):
    def register(fn):
        TOOLS[name] = ToolFixture(name, description, fn, input_schema or dict(NO_ARGUMENTS))
        return fn

    return register


def _arguments(params: types.CallToolRequestParams) -> dict[str, Any]:
    return params.arguments or {}


@tool("test_simple_text", "Tests simple text content response")
async def _simple_text(ctx, params):
    return _result(_text("This is a simple text response for testing."))


@tool("test_image_content", "Tests image content response")
async def _image_content(ctx, params):
    return _result(types.ImageContent(type="image", data=PNG, mime_type="image/png"))


@tool("test_audio_content", "Tests audio content response")
async def _audio_content(ctx, params):
    return _result(types.AudioContent(type="audio", data=WAV, mime_type="audio/wav"))


@tool("test_embedded_resource", "Tests embedded resource content response")
async def _embedded_resource(ctx, params):
    return _result(
        types.EmbeddedResource(
            type="resource",
            resource=types.TextResourceContents(
                uri="test://embedded-resource",
                mime_type="text/plain",
                text="This is an embedded resource content.",
            ),
        )
    )


@tool("test_multiple_content_types", "Tests response with multiple content types (text, image, resource)")
async def _multiple_content_types(ctx, params):
    return _result(
        _text("Multiple content types test:"),
        types.ImageContent(type="image", data=PNG, mime_type="image/png"),
        types.EmbeddedResource(
            type="resource",
            resource=types.TextResourceContents(
                uri="test://mixed-content-resource",
                mime_type="application/json",
                text=_compact({"test": "data", "value": 123}),
            ),
        ),
    )


@tool("test_tool_with_logging", "Tests tool that emits log messages during execution")
async def _tool_with_logging(ctx, params):
    await _log(ctx, "info", "Tool execution started")
    await anyio.sleep(0.05)
    await _log(ctx, "info", "Tool processing data")
    await anyio.sleep(0.05)
    await _log(ctx, "info", "Tool execution completed")
    return _result(_text("Tool with logging executed successfully"))


@tool("test_tool_with_progress", "Tests tool that reports progress notifications")
async def _tool_with_progress(ctx, params):
    # Sent only when the request carried a progressToken (the SDK echoes it).
    for step in (0, 50, 100):
        if step:
            await anyio.sleep(0.05)
        await ctx.session.report_progress(step, 100, f"Completed step {step} of 100")
    token = _progress_token(ctx)
    return _result(_text(str(token if token is not None else 0)))


@tool("test_error_handling", "Tests error response handling")
async def _error_handling(ctx, params):
    return _result(_text("This tool intentionally returns an error for testing"), is_error=True)


@tool(
    "test_reconnection",
    "Tests SSE stream disconnection and client reconnection (SEP-1699). Server will close the stream "
    "mid-call and send the result after client reconnects.",
)
async def _reconnection(ctx, params):
    # Handshake era with an event store: closes this call's POST stream; the client resumes with a
    # GET carrying Last-Event-ID and receives the answer there. 2026-07-28: nothing to close.
    if ctx.close_sse_stream is not None and not _is_modern(ctx):
        await ctx.close_sse_stream()
    await anyio.sleep(0.1)
    return _result(
        _text(
            "Reconnection test completed successfully. If you received this, the client properly "
            "reconnected after stream closure."
        )
    )


def _required_strings(params: types.CallToolRequestParams, *names: str) -> types.CallToolResult | None:
    arguments = _arguments(params)
    bad = [n for n in names if not isinstance(arguments.get(n), str)]
    if bad:
        return _result(_text(f"Invalid arguments: {', '.join(bad)} must be a string"), is_error=True)
    return None


async def _interactive_tool(ctx, params, step: Step) -> Any:
    """Runs an interactive tool; in the handshake era a client that cannot answer gets a text answer
    (as from the reference server)."""
    try:
        outcome = await _interact(ctx, params, step)
    except InputUnavailable as exc:
        return _result(_text(f"{exc.kind} not supported or error: {exc}"))
    return _result(_text(outcome)) if isinstance(outcome, str) else outcome


@tool(
    "test_sampling",
    "Tests server-initiated sampling (LLM completion request)",
    {
        "type": "object",
        "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
        "required": ["prompt"],
    },
)
async def _sampling(ctx, params):
    if invalid := _required_strings(params, "prompt"):
        return invalid
    prompt = _arguments(params)["prompt"]

    def step(answers, state, caps):
        if "llm_response" in answers:
            return f"LLM response: {_sampled_text(answers['llm_response'], 'No response')}"
        return NeedInput({"llm_response": _sample(prompt, 100)})

    return await _interactive_tool(ctx, params, step)


ELICITATION_RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {"response": {"type": "string", "description": "User's response"}},
    "required": ["response"],
}


@tool(
    "test_elicitation",
    "Tests server-initiated elicitation (user input request)",
    {
        "type": "object",
        "properties": {"message": {"type": "string", "description": "The message to show the user"}},
        "required": ["message"],
    },
)
async def _elicitation(ctx, params):
    if invalid := _required_strings(params, "message"):
        return invalid
    message = _arguments(params)["message"]

    def step(answers, state, caps):
        if "user_response" in answers:
            return f"User response: {_elicited(answers['user_response'])}"
        return NeedInput({"user_response": _elicit(message, ELICITATION_RESPONSE_SCHEMA)})

    return await _interactive_tool(ctx, params, step)


SEP1034_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
    "required": [],
}

SEP1330_SCHEMA = {
    "type": "object",
    "properties": {
        "untitledSingle": {
            "type": "string",
            "description": "Select one option",
            "enum": ["option1", "option2", "option3"],
        },
        "titledSingle": {
            "type": "string",
            "description": "Select one option with titles",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "description": "Select one option (legacy)",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "description": "Select multiple options",
            "minItems": 1,
            "maxItems": 3,
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "description": "Select multiple options with titles",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
    "required": [],
}


def _form_tool(name: str, description: str, message: str, schema: dict[str, Any]) -> None:
    async def run(ctx, params):
        def step(answers, state, caps):
            if "form" in answers:
                return f"Elicitation completed: {_elicited(answers['form'])}"
            return NeedInput({"form": _elicit(message, schema)})

        return await _interactive_tool(ctx, params, step)

    TOOLS[name] = ToolFixture(name, description, run)


_form_tool(
    "test_elicitation_sep1034_defaults",
    "Tests elicitation with default values per SEP-1034",
    "Please review and update the form fields with defaults",
    SEP1034_SCHEMA,
)
_form_tool(
    "test_elicitation_sep1330_enums",
    "Tests elicitation with enum schema improvements per SEP-1330",
    "Please select options from the enum fields",
    SEP1330_SCHEMA,
)


@tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
      JSON_SCHEMA_2020_12)
async def _json_schema_2020_12(ctx, params):
    return _result(_text(f"JSON Schema 2020-12 tool called with: {_compact(_arguments(params))}"))


# -- Fixtures the reference server lists at 2026-07-28 ------------------------------------------


@tool(
    "test_x_mcp_header",
    "Tests SEP-2243 Mcp-Param-* headers: its region argument is mirrored into Mcp-Param-Region",
    {
        "type": "object",
        "properties": {
            "region": {
                "type": "string",
                "description": "Mirrored into the Mcp-Param-Region header",
                "x-mcp-header": "Region",
            }
        },
    },
)
async def _x_mcp_header(ctx, params):
    # At 2026-07-28 the SDK checks Mcp-Param-Region against the argument before this runs.
    return _result(_text(f"region={_arguments(params).get('region', '<none>')}"))


@tool("test_missing_capability", "Test tool requiring sampling")
async def _missing_capability(ctx, params):
    caps = ctx.session.client_capabilities
    if caps is None or caps.sampling is None:
        if not _is_modern(ctx):  # -32021 is a 2026-07-28 code
            return _result(_text("This tool requires the client 'sampling' capability"), is_error=True)
        raise MCPError(
            code=MISSING_REQUIRED_CLIENT_CAPABILITY,
            message="Missing required client capability: sampling",
            data={"requiredCapabilities": {"sampling": {}}},
        )
    return _result(_text("Success"))


@tool("test_streaming_elicitation", "Diagnostic tool validating response progress streams")
async def _streaming_elicitation(ctx, params):
    # One progress notification on the call's own stream (which makes a 2026-07-28 answer SSE),
    # then the result: never a server-to-client request. The reference uses token "token-abc"
    # whatever the request carried; this uses the request's token when there is one.
    token = _progress_token(ctx)
    await ctx.session.send_progress_notification(
        progress_token=token if token is not None else "token-abc",
        progress=50,
        total=100,
        related_request_id=ctx.request_id,
    )
    return _result(_text("Streaming complete"))


@tool("test_logging_tool", "Diagnostic logging validator tool")
async def _logging_tool(ctx, params):
    await _log(ctx, "info", "Diagnostic trace logging activated")
    return _result(_text("Logging evaluated"))


async def _trigger(ctx, event: Any, legacy_method: str) -> types.CallToolResult:
    # The lists do not change: the notification is what the scenarios (and a relaying gateway) need.
    await bus.publish(event)  # 2026-07-28: every open subscriptions/listen stream that asked for it
    await _announce_to_legacy_sessions(legacy_method)  # handshake era: the sessions' GET streams
    return _result(_text("Mutation triggered"))


@tool("test_trigger_tool_change", "Announces a tool list change (notifications/tools/list_changed)")
async def _trigger_tool_change(ctx, params):
    return await _trigger(ctx, ToolsListChanged(), "send_tool_list_changed")


@tool("test_trigger_prompt_change", "Announces a prompt list change (notifications/prompts/list_changed)")
async def _trigger_prompt_change(ctx, params):
    return await _trigger(ctx, PromptsListChanged(), "send_prompt_list_changed")


# -- SEP-2322 InputRequiredResult fixtures (2026-07-28; server-to-client requests before) -------

NAME_SCHEMA = _schema(name={"type": "string"})
CONFIRM_SCHEMA = _schema(ok={"type": "boolean"})


def _mrtr_tool(name: str, description: str, step: Step) -> None:
    async def run(ctx, params):
        return await _interactive_tool(ctx, params, step)

    TOOLS[name] = ToolFixture(name, description, run)


def _step_elicitation(answers, state, caps):
    if answers.get("user_name"):
        return f"Hello, {_field(answers['user_name'], 'name')}!"
    return NeedInput({"user_name": _elicit("What is your name?", NAME_SCHEMA)})


def _step_sampling(answers, state, caps):
    if answers.get("sample_request"):
        return f"Sampling result: {_sampled_text(answers['sample_request'], 'no response')}"
    return NeedInput({"sample_request": _sample("What is the capital of France?", 100)})


def _step_list_roots(answers, state, caps):
    if answers.get("roots_request"):
        return f"Found {len(_roots(answers['roots_request']))} root(s)"
    return NeedInput({"roots_request": _list_roots()})


def _step_request_state(answers, state, caps):
    if state and answers.get("confirm"):
        content = answers["confirm"].get("content")
        confirmed = isinstance(content, dict) and content.get("ok") is True
        if _state(state).get("kind") == "request-state" and confirmed:
            return "state-ok: requestState validated"
    state = _compact({"kind": "request-state", "nonce": _nonce()})
    return NeedInput({"confirm": _elicit("Please confirm", CONFIRM_SCHEMA)}, state)


def _step_multiple_inputs(answers, state, caps):
    if state and all(answers.get(k) for k in ("user_name", "greeting", "client_roots")):
        if _state(state).get("kind") == "multiple-inputs":
            name = _field(answers["user_name"], "name")
            greeting = _sampled_text(answers["greeting"], "Hello there!")
            return f"Name: {name}; Greeting: {greeting}; Roots: {len(_roots(answers['client_roots']))}"
    return NeedInput(
        {
            "user_name": _elicit("What is your name?", NAME_SCHEMA),
            "greeting": _sample("Generate a greeting", 50),
            "client_roots": _list_roots(),
        },
        _compact({"kind": "multiple-inputs", "nonce": _nonce()}),
    )


def _step_multi_round(answers, state, caps):
    decoded = _state(state)
    if decoded.get("round") == 1 and answers.get("step1"):
        return NeedInput(
            {"step2": _elicit("Step 2: What is your favorite color?", _schema(color={"type": "string"}))},
            _compact({"round": 2, "name": _field(answers["step1"], "name"), "nonce": _nonce()}),
        )
    if decoded.get("round") == 2 and answers.get("step2"):
        name = decoded.get("name") if isinstance(decoded.get("name"), str) else "friend"
        return f"Multi-round complete for {name} who likes {_field(answers['step2'], 'color')}"
    # First round, or an answer missing: start over.
    state = _compact({"round": 1, "nonce": _nonce()})
    return NeedInput({"step1": _elicit("Step 1: What is your name?", NAME_SCHEMA)}, state)


def _step_tampered_state(answers, state, caps):
    if state:
        verified = _verify(state)
        if verified is None:
            raise MCPError(code=INVALID_PARAMS, message="requestState integrity check failed")
        if verified.get("kind") == "tamper-test" and answers.get("confirm"):
            return "integrity-ok: state verified"
    state = _sign({"kind": "tamper-test", "nonce": _nonce()})
    return NeedInput({"confirm": _elicit("Please confirm", CONFIRM_SCHEMA)}, state)


def _step_capabilities(answers, state, caps):
    if answers:
        return f"capabilities-ok: received {','.join(answers)}"
    requests: dict[str, Any] = {}
    if caps is not None and caps.elicitation is not None:
        requests["elicit_input"] = _elicit("Elicitation input", _schema(value={"type": "string"}))
    if caps is not None and caps.sampling is not None:
        requests["sample_input"] = _sample("Sample request", 50)
    if not requests:
        return "No supported capabilities declared"
    return NeedInput(requests, _sign({"kind": "capabilities-test", "nonce": _nonce()}))


_mrtr_tool(
    "test_input_required_result_elicitation", "MRTR: returns InputRequiredResult with elicitation request",
    _step_elicitation,
)
_mrtr_tool("test_input_required_result_sampling", "MRTR: returns InputRequiredResult with sampling request",
           _step_sampling)
_mrtr_tool(
    "test_input_required_result_list_roots", "MRTR: returns InputRequiredResult with roots/list request",
    _step_list_roots,
)
_mrtr_tool("test_input_required_result_request_state", "MRTR: returns InputRequiredResult with requestState",
           _step_request_state)
_mrtr_tool(
    "test_input_required_result_multiple_inputs",
    "MRTR: returns InputRequiredResult with multiple input requests",
    _step_multiple_inputs,
)
_mrtr_tool("test_input_required_result_multi_round", "MRTR: multi-round InputRequiredResult workflow",
           _step_multi_round)
_mrtr_tool("test_input_required_result_tampered_state", "MRTR: HMAC-signed requestState integrity test",
           _step_tampered_state)
_mrtr_tool("test_input_required_result_capabilities", "MRTR: respects client capabilities in inputRequests",
           _step_capabilities)


async def on_list_tools(ctx: ServerRequestContext, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[fixture.tool() for fixture in TOOLS.values()])


async def on_call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> Any:
    fixture = TOOLS.get(params.name)
    if fixture is None:
        raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}")
    return await fixture.run(ctx, params)


# ----------------------------------------------------------------------------------------------
# Resources


@dataclass
class ResourceFixture:
    uri: str
    name: str
    title: str | None
    description: str
    mime_type: str
    text: str | None = None
    blob: str | None = None

    def resource(self) -> types.Resource:
        return types.Resource(
            uri=self.uri,
            name=self.name,
            title=self.title,
            description=self.description,
            mime_type=self.mime_type,
        )

    def contents(self) -> types.TextResourceContents | types.BlobResourceContents:
        if self.blob is not None:
            return types.BlobResourceContents(uri=self.uri, mime_type=self.mime_type, blob=self.blob)
        return types.TextResourceContents(uri=self.uri, mime_type=self.mime_type, text=self.text or "")


RESOURCES = {
    r.uri: r
    for r in [
        ResourceFixture(
            "test://static-text", "static-text", "Static Text Resource", "A static text resource for testing",
            "text/plain", text="This is the content of the static text resource.",
        ),
        ResourceFixture(
            "test://static-binary", "static-binary", "Static Binary Resource",
            "A static binary resource (image) for testing", "image/png", blob=PNG,
        ),
        ResourceFixture(
            "test://watched-resource", "watched-resource", "Watched Resource",
            "A resource clients can subscribe to", "text/plain", text="Watched resource content",
        ),
        ResourceFixture(
            "test://stateless-static-text", "Stateless Static Text", None,
            "A static text resource served on the draft path", "text/plain",
            text="Static text content from the stateless draft path.",
        ),
    ]
}
TEMPLATE = types.ResourceTemplate(
    uri_template="test://template/{id}/data",
    name="template",
    title="Resource Template",
    description="A resource template with parameter substitution",
    mime_type="application/json",
)
_TEMPLATE_URI = re.compile(r"^test://template/([^/]+)/data$")


async def on_list_resources(ctx, params) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=[r.resource() for r in RESOURCES.values()])


async def on_list_resource_templates(ctx, params) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(resource_templates=[TEMPLATE])


async def on_read_resource(ctx: ServerRequestContext, params: types.ReadResourceRequestParams):
    uri = str(params.uri)
    if uri in RESOURCES:
        return types.ReadResourceResult(contents=[RESOURCES[uri].contents()])
    if match := _TEMPLATE_URI.match(uri):
        item = match.group(1)
        text = _compact({"id": item, "templateTest": True, "data": f"Data for ID: {item}"})
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )
    # SEP-2164: -32602 at 2026-07-28; the handshake era keeps -32002. Both name the uri.
    code = INVALID_PARAMS if _is_modern(ctx) else RESOURCE_NOT_FOUND
    raise MCPError(code=code, message=f"Resource not found: {uri}", data={"uri": uri})


async def on_subscribe(ctx: ServerRequestContext, params: types.SubscribeRequestParams):
    _subscriptions.setdefault(str(params.uri), set()).add(_session_key(ctx) or "")
    return types.EmptyResult()


async def on_unsubscribe(ctx: ServerRequestContext, params: types.UnsubscribeRequestParams):
    _subscriptions.get(str(params.uri), set()).discard(_session_key(ctx) or "")
    return types.EmptyResult()


async def on_set_logging_level(ctx: ServerRequestContext, params: types.SetLevelRequestParams):
    _log_levels[_session_key(ctx) or ""] = params.level
    return types.EmptyResult()


async def on_completion(ctx: ServerRequestContext, params: types.CompleteRequestParams):
    # As the reference: an empty completion for any prompt or template argument.
    return types.CompleteResult(completion=types.Completion(values=[], total=0, has_more=False))


# ----------------------------------------------------------------------------------------------
# Prompts


def _user(content: Any) -> types.PromptMessage:
    return types.PromptMessage(role="user", content=content)


@dataclass
class PromptFixture:
    name: str
    title: str | None
    description: str
    render: Callable[[ServerRequestContext, types.GetPromptRequestParams], Awaitable[Any]]
    arguments: list[types.PromptArgument] = field(default_factory=list)

    def prompt(self) -> types.Prompt:
        return types.Prompt(
            name=self.name, title=self.title, description=self.description, arguments=self.arguments or None
        )


async def _simple_prompt(ctx, params):
    return [_user(_text("This is a simple prompt for testing."))]


async def _prompt_with_arguments(ctx, params):
    args = params.arguments or {}
    return [_user(_text(f"Prompt with arguments: arg1='{args['arg1']}', arg2='{args['arg2']}'"))]


async def _prompt_with_embedded_resource(ctx, params):
    uri = (params.arguments or {})["resourceUri"]
    return [
        _user(
            types.EmbeddedResource(
                type="resource",
                resource=types.TextResourceContents(
                    uri=uri, mime_type="text/plain", text="Embedded resource content for testing."
                ),
            )
        ),
        _user(_text("Please process the embedded resource above.")),
    ]


async def _prompt_with_image(ctx, params):
    return [
        _user(types.ImageContent(type="image", data=PNG, mime_type="image/png")),
        _user(_text("Please analyze the image above.")),
    ]


def _step_prompt(answers, state, caps):
    if answers.get("user_context"):
        return [_user(_text(f"Prompt with context: {_field(answers['user_context'], 'context')}"))]
    return NeedInput(
        {"user_context": _elicit("What context should the prompt use?", _schema(context={"type": "string"}))}
    )


async def _input_required_prompt(ctx, params):
    try:
        return await _interact(ctx, params, _step_prompt)
    except InputUnavailable as exc:
        raise MCPError(code=INVALID_PARAMS, message=f"{exc.kind} not supported or error: {exc}") from exc


def _argument(name: str, description: str) -> types.PromptArgument:
    return types.PromptArgument(name=name, description=description, required=True)


PROMPTS = {
    p.name: p
    for p in [
        PromptFixture(
            "test_simple_prompt", "Simple Test Prompt", "A simple prompt without arguments", _simple_prompt
        ),
        PromptFixture(
            "test_prompt_with_arguments", "Prompt With Arguments", "A prompt with required arguments",
            _prompt_with_arguments,
            [_argument("arg1", "First test argument"), _argument("arg2", "Second test argument")],
        ),
        PromptFixture(
            "test_prompt_with_embedded_resource", "Prompt With Embedded Resource",
            "A prompt that includes an embedded resource", _prompt_with_embedded_resource,
            [_argument("resourceUri", "URI of the resource to embed")],
        ),
        PromptFixture(
            "test_prompt_with_image", "Prompt With Image", "A prompt that includes image content",
            _prompt_with_image,
        ),
        PromptFixture(
            "test_input_required_result_prompt", None, "MRTR: prompt that requires elicitation input",
            _input_required_prompt,
        ),
    ]
}


async def on_list_prompts(ctx, params) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=[p.prompt() for p in PROMPTS.values()])


async def on_get_prompt(ctx: ServerRequestContext, params: types.GetPromptRequestParams) -> Any:
    fixture = PROMPTS.get(params.name)
    if fixture is None:
        raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {params.name}")
    arguments = params.arguments or {}
    missing = [a.name for a in fixture.arguments if a.required and not isinstance(arguments.get(a.name), str)]
    if missing:
        raise MCPError(code=INVALID_PARAMS, message=f"Missing required arguments: {', '.join(missing)}")
    outcome = await fixture.render(ctx, params)
    if isinstance(outcome, types.InputRequiredResult):
        return outcome
    return types.GetPromptResult(description=fixture.description, messages=outcome)


# ----------------------------------------------------------------------------------------------
# The server


class EverythingServer(Server):
    """Advertises listChanged in the handshake era too: the SDK's default says false there."""

    def create_initialization_options(
        self, notification_options=None, experimental_capabilities=None, extensions=None
    ):
        everything = NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
        return super().create_initialization_options(
            notification_options or everything, experimental_capabilities, extensions
        )


def build_server() -> EverythingServer:
    lists, reads = CacheHint(ttl_ms=300_000, scope="public"), CacheHint(ttl_ms=300_000, scope="private")
    server = EverythingServer(
        NAME,
        version=VERSION,
        cache_hints={  # the reference's SEP-2549 hints (2026-07-28 results only)
            "server/discover": CacheHint(ttl_ms=0, scope="private"),
            "tools/list": lists,
            "prompts/list": lists,
            "resources/list": lists,
            "resources/templates/list": lists,
            "resources/read": reads,
        },
        # Mcp-Param-* validation (2026-07-28) reads a tool's inputSchema here instead of tools/list.
        get_tool_input_schema=lambda name: TOOLS[name].input_schema if name in TOOLS else None,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_list_resource_templates=on_list_resource_templates,
        on_read_resource=on_read_resource,
        on_subscribe_resource=on_subscribe,
        on_unsubscribe_resource=on_unsubscribe,
        on_subscriptions_listen=ListenHandler(bus),
        on_list_prompts=on_list_prompts,
        on_get_prompt=on_get_prompt,
        on_completion=on_completion,
        on_set_logging_level=on_set_logging_level,
    )
    # Seal every requestState at the wire and verify it on the way back in (MCPServer does this by
    # itself; a low-level Server appends the boundary). A process-local key: one process serves it.
    server.middleware.append(RequestStateBoundary(RequestStateSecurity.ephemeral(), default_audience=NAME))
    server.middleware.append(_track_legacy_sessions)
    return server


class MemoryEventStore(EventStore):
    """Keeps the latest events of handshake-era streams, for SSE resumption (Last-Event-ID)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._events: deque[tuple[str, str, Any]] = deque(maxlen=limit)
        self._counter = itertools.count(1)

    async def store_event(self, stream_id: str, message: Any) -> str:
        event_id = f"{stream_id}::{next(self._counter)}"
        self._events.append((stream_id, event_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        stream_id, _, number = last_event_id.rpartition("::")
        if not stream_id or not number.isdigit():
            return None
        after = int(number)
        for stream, event_id, message in list(self._events):
            if stream == stream_id and int(event_id.rpartition("::")[2]) > after and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="transport", required=True)
    http = sub.add_parser("http", help="streamable HTTP at /mcp")
    http.add_argument("--port", type=int, required=True)
    http.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (DNS-rebinding protection on)")
    sub.add_parser("stdio", help="stdio")
    args = parser.parse_args(argv)

    server = build_server()
    if args.transport == "stdio":
        from mcp.server.stdio import stdio_server

        async def serve_stdio() -> None:
            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())

        anyio.run(serve_stdio)
        return 0

    import uvicorn

    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        event_store=MemoryEventStore(),
        retry_interval=RETRY_INTERVAL_MS,
        host=args.host,  # a loopback host turns DNS-rebinding protection on (Host and Origin checked)
    )
    # h11, not httptools: httptools keeps trailing whitespace in header values (RFC 9110 says strip
    # it), and the SDK then refuses `Mcp-Name: "  test_simple_text  "` as a header mismatch.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", http="h11")
    return 0


if __name__ == "__main__":
    sys.exit(main())
