"""Security headers on every answer of the management API and admin UI, and CORS (off by default).

Layer: kernel, HTTP edge. The app factory installs `add_security_headers` as the Quart app's
`after_request` and, when CORS_ORIGINS names origins, puts `Cors` in front of the whole ASGI app
(MCP endpoints and Quart alike). The MCP endpoints' own JSON answers carry `nosniff` from
`forge.http.JSON_HEADERS` (a precomputed list: nothing is added per call on the hot path).

The Content-Security-Policy fits the admin UI, which loads only its own stylesheet and script and
has no inline script or style; a JSON answer is never rendered, so the policy costs it nothing.
The API's documentation pages (/docs, /redocs, /scalar) load their viewer from a CDN with an
inline bootstrap script, so they get only `frame-ancestors 'none'`.
"""

from __future__ import annotations

from collections.abc import Iterable

from quart import request

from forge.asgi import ForgeAsgi

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCUMENTATION_POLICY = "frame-ancestors 'none'"
DOCUMENTATION_PATHS = frozenset({"/docs", "/redocs", "/scalar"})
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

# What a browser may send and read cross-origin: the MCP headers as well as the API's.
CORS_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_REQUEST_HEADERS = (
    b"authorization, content-type, accept, last-event-id, mcp-session-id, mcp-protocol-version, "
    b"mcp-method, mcp-name, x-forge-passphrase"
)
CORS_EXPOSED_HEADERS = b"mcp-session-id, mcp-protocol-version, www-authenticate, retry-after, x-request-id"
CORS_MAX_AGE = b"600"


async def add_security_headers(response):
    """`after_request`: the headers every answer carries (a view's own values are kept)."""
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    policy = DOCUMENTATION_POLICY if request.path in DOCUMENTATION_PATHS else CONTENT_SECURITY_POLICY
    headers.setdefault("Content-Security-Policy", policy)
    return response


class Cors:
    """ASGI middleware: a browser on one of `origins` may call the API and the MCP endpoints.

    A preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin is
    answered here with 204; any other request from one gets Access-Control-Allow-Origin on its
    answer. Requests from other origins pass through untouched, so the browser refuses to let the
    page read the answer (and the MCP transports refuse the Origin itself: CORS_ORIGINS are added
    to ALLOWED_ORIGINS by the settings)."""

    def __init__(self, app, origins: Iterable[str]):
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = preflight = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = value
        if origin is None or origin.decode("latin-1") not in self.origins:
            await self.app(scope, receive, send)
            return
        allowed = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS" and preflight is not None:
            await send({"type": "http.response.start", "status": 204, "headers": [
                *allowed,
                (b"access-control-allow-methods", CORS_METHODS),
                (b"access-control-allow-headers", CORS_REQUEST_HEADERS),
                (b"access-control-max-age", CORS_MAX_AGE),
            ]})
            await send({"type": "http.response.body", "body": b""})
            return
        allowed.append((b"access-control-expose-headers", CORS_EXPOSED_HEADERS))

        async def send_allowed(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *allowed]}
            await send(message)

        await self.app(scope, receive, send_allowed)


class CorsForgeAsgi(ForgeAsgi):
    """The front door behind `Cors`, which the app factory builds when CORS_ORIGINS is set (the
    default front door pays nothing for CORS)."""

    def __init__(self, *args, origins: Iterable[str], **kwargs):
        super().__init__(*args, **kwargs)
        self._cors = Cors(super().__call__, origins)

    async def __call__(self, scope, receive, send):
        await self._cors(scope, receive, send)
