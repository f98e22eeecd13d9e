"""Who may use the management API: authentication before each request, authorization per view.

Layer: api, over `forge.auth` (which asks the plugins). Liveness and readiness probes and the
OpenAPI document stay open so orchestrators and API tools can reach them.
"""

from __future__ import annotations

from quart import current_app, g, request

from forge.auth import authenticate, authorize
from forge.contracts import Credentials

PUBLIC_PATHS = frozenset({"/health", "/ready", "/version", "/openapi.json", "/docs", "/redocs", "/scalar"})


def credentials_of(headers, args, remote_addr) -> Credentials:
    return Credentials(
        headers={key.lower(): value for key, value in headers.items()},
        query=dict(args),
        client_address=remote_addr,
    )


async def authenticate_request() -> None:
    """`before_request`: put the caller's principal on `g`, or fail with 401."""
    if request.path in PUBLIC_PATHS or request.path.startswith("/static/"):
        g.principal = None
        return
    gateway = current_app.config["FORGE_GATEWAY"]
    g.principal = await authenticate(gateway, credentials_of(request.headers, request.args, request.remote_addr))


async def require(action: str, target: str) -> None:
    """Raise `NotAllowed` (403) unless the caller may do `action` on `target`."""
    await authorize(current_app.config["FORGE_GATEWAY"], g.principal, action, target)
