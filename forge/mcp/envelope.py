"""The stateless revision's per-request envelope: `_meta` checks and HTTP routing headers.

Layer: protocol. The engine runs `check_modern_request` before dispatching a 2026-07-28 request;
its order is the specification's (and the conformance suite checks it): missing `_meta` fields,
then routing headers against the body, then the protocol version.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from forge.mcp.jsonrpc import HEADER_MISMATCH, INVALID_PARAMS, UNSUPPORTED_PROTOCOL_VERSION, McpError
from forge.mcp.versions import (
    LOG_LEVELS,
    META_CLIENT_CAPABILITIES,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    MODERN_VERSIONS,
)

# Methods whose target travels in the `Mcp-Name` header, and the params field it must equal.
NAME_FIELDS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def decode_header_value(value: str) -> str:
    """Undo the `=?base64?...?=` wrapping used for non-ASCII header values; others pass as they are."""
    value = value.strip()
    if value.startswith("=?base64?") and value.endswith("?="):
        encoded = value[len("=?base64?") : -2]
        try:
            decoded = base64.b64decode(encoded, validate=True)
            if base64.b64encode(decoded).decode() != encoded:
                raise ValueError("not canonical")
            return decoded.decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise McpError(HEADER_MISMATCH, f"Header mismatch: invalid base64 header value {value!r}") from None
    return value


def check_modern_request(method: str, params: Mapping[str, Any], headers: Mapping[str, str] | None) -> dict:
    """Validate a 2026-07-28 request; answer its `_meta`. Raises the `McpError` the revision names."""
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        raise McpError(INVALID_PARAMS, "Invalid params: _meta is required in protocol 2026-07-28")
    for key in (META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES):
        if key not in meta:
            raise McpError(INVALID_PARAMS, f"Invalid params: _meta is missing {key}")
    if not isinstance(meta[META_CLIENT_CAPABILITIES], dict):
        raise McpError(INVALID_PARAMS, f"Invalid params: {META_CLIENT_CAPABILITIES} must be an object")
    version = meta[META_PROTOCOL_VERSION]
    if headers is not None:
        _check_routing_headers(method, params, version, headers)
    if not isinstance(version, str):
        raise McpError(INVALID_PARAMS, f"Invalid params: {META_PROTOCOL_VERSION} must be a string")
    if version not in MODERN_VERSIONS:
        raise McpError(
            UNSUPPORTED_PROTOCOL_VERSION,
            f"Unsupported protocol version: {version}",
            {"supported": list(MODERN_VERSIONS), "requested": version},
        )
    level = meta.get(META_LOG_LEVEL)
    if level is not None and level not in LOG_LEVELS:
        raise McpError(INVALID_PARAMS, f"Invalid params: unknown log level {level!r}")
    return meta


def _check_routing_headers(method: str, params: Mapping[str, Any], version: Any, headers: Mapping[str, str]):
    def mismatch(header: str, sent: str | None, expected: Any) -> McpError:
        said = "missing" if sent is None else f"value {sent!r} does not match"
        return McpError(HEADER_MISMATCH, f"Header mismatch: {header} header {said} body value {expected!r}")

    sent_version = headers.get("mcp-protocol-version")
    if sent_version is None or sent_version.strip() != version:
        raise mismatch("MCP-Protocol-Version", sent_version, version)
    sent_method = headers.get("mcp-method")
    if sent_method is None or sent_method.strip() != method:
        raise mismatch("Mcp-Method", sent_method, method)
    field = NAME_FIELDS.get(method)
    if field is not None and field in params:
        sent_name = headers.get("mcp-name")
        if sent_name is None or decode_header_value(sent_name) != params[field]:
            raise mismatch("Mcp-Name", sent_name, params[field])
