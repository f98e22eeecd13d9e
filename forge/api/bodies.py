"""What a request body must be: one JSON object, sent as application/json, within MAX_BODY_BYTES.

Layer: api. The app factory runs `require_json_object` before every view (plugins' too, after the
guard); it acts only on views that validate a body (`validate_request`), so a client who sends
form data, broken JSON or a JSON list is told which of those it did, before the payload's fields
are checked. Quart caches the parsed body, so quart-schema's validation reads it without parsing
it again.
"""

from __future__ import annotations

import json

from quart import current_app, request
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE
from werkzeug.exceptions import BadRequest

from forge.api.errors import ApiError

JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


async def require_json_object() -> None:
    """`before_request`: raise `ApiError` (400 or 415) unless the body is one JSON object."""
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE, None) is None:
        return
    raw = await request.get_data()  # a body over MAX_BODY_BYTES stops here with 413
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the request body is empty: send one JSON object")
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as JSON, with Content-Type: application/json")
    try:
        body = await request.get_json()
    except (BadRequest, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {_why_not_json(raw)}") from None
    except RecursionError:  # the standard library's parser recurses once per level
        raise ApiError(400, "invalid_json", "the request body nests too deeply to be parsed") from None
    if not isinstance(body, dict):
        kind = "null" if body is None else JSON_TYPES.get(type(body), type(body).__name__)
        raise ApiError(400, "invalid_json", f"the request body must be a JSON object, not {kind}")


def _why_not_json(raw: bytes) -> str:
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError as error:  # JSONDecodeError, or UnicodeDecodeError: JSON is UTF-8 (RFC 8259)
        return str(error)
    return "it could not be parsed"
