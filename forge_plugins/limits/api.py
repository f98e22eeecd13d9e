"""The management API side of the limits: a blueprint with no routes and one `before_app_request`.

Layer: plugin (limits), over Quart. It runs after the kernel's guard has put the caller on
`g.principal`, so a request it refuses was authenticated first; public paths (probes, the
OpenAPI document, a login page) have no principal and are not counted. Over the principal's
limit: 429, `Retry-After`, and the API's JSON error body. A JSON body past MAX_JSON_DEPTH or
MAX_STRING_CHARS: 400 before any view parses it.
"""

from __future__ import annotations

import orjson
from quart import Blueprint, g, request

from forge.api.errors import error_response
from forge_plugins.limits.rate import RateLimits
from forge_plugins.limits.shape import shape_problem

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def limits_blueprint(settings, rates: RateLimits | None) -> Blueprint:
    blueprint = Blueprint("limits", __name__)

    @blueprint.before_app_request
    async def limit_request():
        principal = getattr(g, "principal", None)
        if rates is not None and rates.per_principal and principal is not None:
            wait = await rates.retry_after(rates.per_principal, "principal", principal.name)
            if wait is not None:
                return error_response(
                    429,
                    "rate_limited",
                    f"rate limit exceeded for principal {principal.name!r}: retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        if request.method in BODY_METHODS and _is_json(request.mimetype):
            problem = await _body_problem(settings)
            if problem is not None:
                return error_response(400, "json_limits", f"the request body is refused: {problem}")
        return None

    return blueprint


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")


async def _body_problem(settings) -> str | None:
    body = await request.get_data(cache=True)  # the view reads it again from the cache
    try:
        value = orjson.loads(body) if body else None
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):  # orjson stops at 1024 levels
            return f"JSON nests deeper than {settings.max_json_depth} levels (MAX_JSON_DEPTH)"
        return None  # malformed JSON: the view answers it as it does
    return shape_problem(value, settings.max_json_depth, settings.max_string_chars)
