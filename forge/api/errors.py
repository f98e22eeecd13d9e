"""Every error the management API answers is JSON: {"error": {"code", "message", "details"?}}.

Layer: api. Registered on the Quart app by the app factory.
"""

from __future__ import annotations

from pydantic import ValidationError
from quart import jsonify
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from forge.auth import AuthenticationFailed, NotAllowed
from forge.store.repository import StoreError


def error_response(status: int, code: str, message: str, details=None, headers=None):
    body = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _validation_details(error) -> list | str:
    inner = getattr(error, "validation_error", None)
    if isinstance(inner, ValidationError):
        return [
            {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
            for item in inner.errors(include_url=False, include_context=False, include_input=False)
        ]
    return str(inner or error)


def register_error_handlers(app) -> None:
    @app.errorhandler(RequestSchemaValidationError)
    async def invalid_payload(error):
        details = _validation_details(error)
        if isinstance(details, str):  # not JSON at all, or not an object
            return error_response(400, "invalid_json", f"the request body is not valid JSON: {details}")
        return error_response(422, "invalid_payload", "the request does not match the schema", details)

    @app.errorhandler(StoreError)
    async def store_error(error: StoreError):
        code = {404: "not_found", 409: "conflict"}.get(error.status, "invalid")
        return error_response(error.status, code, str(error))

    @app.errorhandler(AuthenticationFailed)
    async def unauthenticated(error: AuthenticationFailed):
        return error_response(401, "unauthenticated", str(error), headers={"WWW-Authenticate": error.challenge})

    @app.errorhandler(NotAllowed)
    async def forbidden(error: NotAllowed):
        return error_response(403, "forbidden", str(error))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; the gateway log has the details")
