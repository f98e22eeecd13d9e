"""Every error the management API answers is JSON: {"error": {"code", "message", "details"?}}.

Layer: api. Registered on the Quart app by the app factory.
"""

from __future__ import annotations

from pydantic import ValidationError
from quart import current_app, jsonify
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from forge.auth import AuthenticationFailed, NotAllowed
from forge.store.repository import StoreError


class ApiError(Exception):
    """An answer the API gives on purpose: an HTTP status, a short code, a message, optional details."""

    def __init__(self, status: int, code: str, message: str, details=None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def invalid_field(field: str, message: str) -> ApiError:
    """A 422 shaped like a schema failure, for checks that need more than the payload itself."""
    details = [{"field": field, "message": message}]
    return ApiError(422, "invalid_payload", "the request does not match the schema", details)


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
            {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"].removeprefix("Value error, ")}
            for item in inner.errors(include_url=False, include_context=False, include_input=False)
        ]
    return str(inner or error)


def register_error_handlers(app) -> None:
    @app.errorhandler(RequestSchemaValidationError)
    async def invalid_payload(error):
        where = "query string" if isinstance(error, QuerystringValidationError) else "request"
        code = "invalid_query" if where == "query string" else "invalid_payload"
        return error_response(422, code, f"the {where} does not match the schema", _validation_details(error))

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(StoreError)
    async def store_error(error: StoreError):
        return error_response(error.status, error.code, str(error), error.details)

    @app.errorhandler(RequestEntityTooLarge)
    async def too_large(error: RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return error_response(413, "body_too_large", f"the request body is over MAX_BODY_BYTES ({limit} bytes)")

    @app.errorhandler(AuthenticationFailed)
    async def unauthenticated(error: AuthenticationFailed):
        # 401 with its challenge, or 429 with Retry-After (TooManyFailures)
        return error_response(error.status, error.code, str(error), headers=error.headers)

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
