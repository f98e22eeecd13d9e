"""JSON-RPC 2.0 framing: decoding, classifying and answering messages, and the error codes MCP uses.

Layer: protocol, below the engine and above nothing. orjson does the (de)serialising.
"""

from __future__ import annotations

from typing import Any

import orjson

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002
# 2026-07-28: an HTTP routing header disagrees with the body, or a protocol version is unsupported.
HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022
MISSING_CAPABILITY = -32021
REQUEST_CANCELLED = -32800


class McpError(Exception):
    """An error answered to the client as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def decode(body: bytes | str) -> Any:
    """Parse a message body; invalid JSON is `McpError(PARSE_ERROR)`."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise McpError(PARSE_ERROR, f"Parse error: {error}") from None


def encode(message: Any) -> bytes:
    return orjson.dumps(message)


def is_request(message: dict) -> bool:
    return "method" in message and "id" in message


def is_notification(message: dict) -> bool:
    return "method" in message and "id" not in message


def is_response(message: dict) -> bool:
    return "method" not in message and ("result" in message or "error" in message)


def readable_id(message: Any) -> str | int | None:
    """The message's id if it is one a response may echo (a string or an integer), else None."""
    found = message.get("id") if isinstance(message, dict) else None
    return found if isinstance(found, str | int) and not isinstance(found, bool) else None


def check_envelope(message: Any) -> None:
    """Raise `McpError(INVALID_REQUEST)` unless `message` is a well-formed JSON-RPC 2.0 message."""
    if not isinstance(message, dict):
        raise McpError(INVALID_REQUEST, "Invalid Request: a message must be a JSON object")
    if message.get("jsonrpc") != "2.0":
        raise McpError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    if "id" in message and (isinstance(message["id"], bool) or not isinstance(message["id"], str | int)):
        raise McpError(INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    if "method" in message:
        if not isinstance(message["method"], str):
            raise McpError(INVALID_REQUEST, "Invalid Request: method must be a string")
        if "params" in message and not isinstance(message["params"], dict):
            raise McpError(INVALID_REQUEST, "Invalid Request: params must be an object")
    elif not is_response(message):
        raise McpError(INVALID_REQUEST, "Invalid Request: no method, result or error")


def result(request_id: Any, value: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def error(request_id: Any, failure: McpError) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": failure.to_error()}


def notification(method: str, params: dict | None = None) -> dict:
    message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message
