"""Helpers shared by the method handlers: the caller's catalog scope, pagination, params checks.

Layer: protocol.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from forge.mcp.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, McpError

PAGE_SIZE = 500


def scope_of(gateway, context):
    scope = gateway.catalog.scope(context.server_id)
    if scope is None:
        raise McpError(INVALID_REQUEST, f"Virtual server {context.server_id!r} is not available")
    return scope


def page(items: list, params: dict, key: str) -> dict:
    """One page of `items` under `key`, with `nextCursor` when more follow."""
    offset = _decode_cursor(params.get("cursor"))
    result: dict[str, Any] = {key: items[offset : offset + PAGE_SIZE]}
    if offset + PAGE_SIZE < len(items):
        result["nextCursor"] = base64.urlsafe_b64encode(str(offset + PAGE_SIZE).encode()).decode()
    return result


def _decode_cursor(cursor: Any) -> int:
    if cursor is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(str(cursor).encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise McpError(INVALID_PARAMS, f"Invalid params: unknown cursor {cursor!r}") from None
    if offset < 0:
        raise McpError(INVALID_PARAMS, f"Invalid params: unknown cursor {cursor!r}")
    return offset


def required_string(params: dict, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise McpError(INVALID_PARAMS, f"Invalid params: {name} must be a non-empty string")
    return value


def optional_object(params: dict, name: str) -> dict:
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise McpError(INVALID_PARAMS, f"Invalid params: {name} must be an object")
    return value
