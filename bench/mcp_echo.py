"""The benchmark's MCP upstream: one tool, `echo`, answered over Streamable HTTP as plain JSON.

Served by `bench/echo.py` at POST /mcp beside the REST echo, in the same uvicorn process; this
module only turns a request's method and body into an answer, so it costs one orjson parse and
one dump a call and is not what a benchmark measures.

It speaks the stateless 2026-07-28 revision, which Forge's federation plugin tries first
(`server/discover`; then every request carries its own `_meta`, and every result is stamped with
`resultType` and the serverInfo `_meta`). The handshake era's `initialize` is answered too,
statelessly (no Mcp-Session-Id), for a client that starts there. Answers are application/json,
never SSE: notifications (and a client's responses) 202 with no body, a method it does not serve
-32601, a body that is not JSON -32700 (HTTP 400), GET and the rest 405 (no stream to offer).

The tool's result text is what the REST echo answers for the same arguments, `{"echo": {...}}`,
so a call of either tool through Forge comes back with the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

MODERN = "2026-07-28"
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")  # newest first
PROTOCOL_META = "io.modelcontextprotocol/protocolVersion"
SERVER_INFO = {"name": "forge-bench-mcp-echo", "version": "1.0"}
STAMP = {"io.modelcontextprotocol/serverInfo": SERVER_INFO}
CACHEABLE = frozenset({"server/discover", "tools/list"})  # 2026-07-28 results that carry cache hints
CAPABILITIES = {"tools": {}}
TOOL = {
    "name": "echo",
    "description": "Echo the arguments.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602

JSON = [(b"content-type", b"application/json")]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # HTTP status, headers, body


class Refused(Exception):
    """A request answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def discover(params: dict) -> dict:
    return {"supportedVersions": [MODERN], "capabilities": CAPABILITIES}


def initialize(params: dict) -> dict:
    asked = params.get("protocolVersion")
    version = asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[0]
    return {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": SERVER_INFO}


def ping(params: dict) -> dict:
    return {}


def list_tools(params: dict) -> dict:
    return {"tools": [TOOL]}


def call_tool(params: dict) -> dict:
    if params.get("name") != TOOL["name"]:
        raise Refused(INVALID_PARAMS, f"Unknown tool: {params.get('name')!r}")
    arguments = params.get("arguments")
    if not isinstance(arguments, dict) or not isinstance(arguments.get("text"), str):
        return text_result('echo needs arguments {"text": string}', error=True)
    return text_result(orjson.dumps({"echo": arguments}).decode())


def text_result(text: str, error: bool = False) -> dict:
    return {"content": [{"type": "text", "text": text}], "isError": error}


METHODS: dict[str, Callable[[dict], dict]] = {
    "server/discover": discover,
    "initialize": initialize,
    "ping": ping,
    "tools/list": list_tools,
    "tools/call": call_tool,
}


def answer(http_method: str, body: bytes) -> Answer:
    """The answer to one HTTP request to the MCP endpoint."""
    if http_method != "POST":
        return 405, [*JSON, (b"allow", b"POST")], b'{"error":"POST a JSON-RPC message; no stream is offered"}'
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 400, JSON, error(None, PARSE_ERROR, "Parse error: the body is not JSON")
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        if isinstance(message, dict) and ("result" in message or "error" in message):
            return 202, [], b""  # a client's response: this server never asks, so nothing waits for it
        return 400, JSON, error(None, INVALID_REQUEST, "Invalid request: POST one request or notification")
    if "id" not in message:
        return 202, [], b""  # a notification (notifications/initialized, .../cancelled): nothing to answer
    return 200, JSON, respond(message)


def respond(message: dict) -> bytes:
    """The JSON-RPC response to one request."""
    method, request_id, params = message["method"], message["id"], message.get("params") or {}
    handler = METHODS.get(method)
    if handler is None:
        return error(request_id, METHOD_NOT_FOUND, f"Method not found: {method}")
    if not isinstance(params, dict):
        return error(request_id, INVALID_PARAMS, "params must be an object")
    try:
        result = handler(params)
    except Refused as refused:
        return error(request_id, refused.code, refused.message)
    meta = params.get("_meta")
    if method == "server/discover" or (isinstance(meta, dict) and meta.get(PROTOCOL_META) == MODERN):
        result = {**result, "resultType": "complete", "_meta": STAMP}
        if method in CACHEABLE:
            result.update(ttlMs=0, cacheScope="public")
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def error(request_id, code: int, message: str) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})
