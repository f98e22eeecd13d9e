"""What the federation plugin says on the wire to an upstream: envelopes, errors, SSE frames.

Layer: plugin protocol helpers, below the sessions (`http_session`, `stream_session`) and the
forwarding adapter; nothing here does I/O except reading an SSE body it is handed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from forge import __version__
from forge.mcp.jsonrpc import INTERNAL_ERROR, McpError
from forge.mcp.versions import (
    LATEST_HANDSHAKE,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
    MODERN_VERSIONS,
)

MODERN = MODERN_VERSIONS[0]
HANDSHAKE = LATEST_HANDSHAKE
# A Forge says who it is in the `_meta` of its server/discover and initialize results; an entity
# it imported carries, in its definition's `_meta`, the Forge instances it came through.
INSTANCE_META = "io.forge/instance"
PATH_META = "io.forge/path"
RESERVED_META_PREFIX = "io.modelcontextprotocol/"
# The param whose value travels in the Mcp-Name header, per method (2026-07-28).
NAME_PARAM = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# What Forge declares to a handshake-era upstream: everything a downstream client might answer.
RELAYED_CAPABILITIES = {"sampling": {}, "elicitation": {}, "roots": {"listChanged": False}}
LIST_CHANGED = {
    "notifications/tools/list_changed": "tools",
    "notifications/prompts/list_changed": "prompts",
    "notifications/resources/list_changed": "resources",
}


class UpstreamUnavailable(ConnectionError):
    """The upstream could not be reached, or the connection ended before it answered."""


class AnswerTooLarge(UpstreamUnavailable):
    """An upstream answer (a JSON body, or one message of an answer stream) larger than
    UPSTREAM_MAX_RESPONSE_BYTES; the message says so. Unavailable in kind, so whatever handles an
    upstream that did not answer (syncs, health checks, the listen stream) handles this too; a call
    tells it apart (`Upstream.call`: it is an answer, so no retry and no breaker failure)."""

    @classmethod
    def over(cls, limit: int, what: str = "the upstream's answer") -> AnswerTooLarge:
        return cls(f"{what} is larger than {limit} bytes (UPSTREAM_MAX_RESPONSE_BYTES)")


def client_info(app_name: str) -> dict:
    return {"name": f"{app_name} (federation)", "version": __version__}


def modern_params(
    params: Mapping[str, Any],
    info: Mapping[str, Any],
    capabilities: Mapping[str, Any] | None,
    log_level: str | None,
) -> dict:
    """`params` with the `_meta` every 2026-07-28 request carries; other `_meta` keys (progressToken,
    traceparent, vendor keys) are kept as they are."""
    meta = {
        key: value
        for key, value in (params.get("_meta") or {}).items()
        if not key.startswith(RESERVED_META_PREFIX)
    }
    meta[META_PROTOCOL_VERSION] = MODERN
    meta[META_CLIENT_INFO] = dict(info)
    meta[META_CLIENT_CAPABILITIES] = dict(capabilities or {})
    if log_level:
        meta[META_LOG_LEVEL] = log_level
    return {**params, "_meta": meta}


def handshake_params(params: Mapping[str, Any]) -> dict:
    """`params` for a handshake-era upstream: the stateless revision's `_meta` keys left out."""
    meta = {
        key: value
        for key, value in (params.get("_meta") or {}).items()
        if not key.startswith(RESERVED_META_PREFIX)
    }
    rest = {
        key: value for key, value in params.items() if key not in ("_meta", "inputResponses", "requestState")
    }
    return {**rest, "_meta": meta} if meta else rest


def error_from(error: Any) -> McpError:
    """The McpError a JSON-RPC error member stands for, code, message and data kept."""
    if not isinstance(error, Mapping):
        return McpError(INTERNAL_ERROR, f"the upstream answered a malformed error: {error!r}")
    code = error.get("code")
    return McpError(
        code if isinstance(code, int) else INTERNAL_ERROR, str(error.get("message", "")), error.get("data")
    )


def answer_of(message: Mapping[str, Any]) -> dict:
    """The result of a JSON-RPC response, or its error raised."""
    if "error" in message:
        raise error_from(message["error"])
    result = message.get("result")
    if not isinstance(result, dict):
        raise McpError(INTERNAL_ERROR, "the upstream answered a result that is not an object")
    return result


def for_handshake_client(result: dict) -> dict:
    """A 2026-07-28 result as a handshake-era client expects it: no resultType, cache hints or
    serverInfo stamp (the suite's schema checks hold each era to its own shape)."""
    if not any(key in result for key in ("resultType", "ttlMs", "cacheScope")) and META_SERVER_INFO not in (
        result.get("_meta") or {}
    ):
        return result
    shaped = {key: value for key, value in result.items() if key not in ("resultType", "ttlMs", "cacheScope")}
    meta = {key: value for key, value in (result.get("_meta") or {}).items() if key != META_SERVER_INFO}
    if meta:
        shaped["_meta"] = meta
    else:
        shaped.pop("_meta", None)
    return shaped


async def sse_messages(lines: AsyncIterator[str], limit: int | None = None) -> AsyncIterator[dict]:
    """The JSON-RPC messages of an SSE body, one per event; priming events (no data) and comments
    are skipped. An event whose data lines add up to more than `limit` characters raises
    `AnswerTooLarge` (each line is bounded by whoever splits the lines, `http_session.text_lines`)."""
    data: list[str] = []
    size = 0
    async for line in lines:
        if line == "":
            if data:
                payload = "\n".join(data)
                data, size = [], 0
                try:
                    message = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(message, dict):
                    yield message
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
            size += len(data[-1]) + 1
            if limit is not None and size > limit:
                raise AnswerTooLarge.over(limit, "a message in the upstream's answer stream")
    if data:
        try:
            message = orjson.loads("\n".join(data))
        except orjson.JSONDecodeError:
            return
        if isinstance(message, dict):
            yield message
