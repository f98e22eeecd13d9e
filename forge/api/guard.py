"""Who may use the management API: authentication before each request, authorization per view.

Layer: api, over `forge.auth` (which asks the plugins). Liveness and readiness probes and the
OpenAPI document stay open so orchestrators and API tools can reach them, and so do /.well-known/
documents and the views a plugin marks `public` (the admin UI's login page).
"""

from __future__ import annotations

from quart import current_app, g, request

from forge.auth import authenticate, authorize
from forge.contracts import Credentials

PUBLIC_PATHS = frozenset({"/health", "/ready", "/version", "/openapi.json", "/docs", "/redocs", "/scalar"})
# Static files, and RFC 8615 well-known documents (OAuth protected resource metadata), which
# exist to be read before a client has credentials.
PUBLIC_PREFIXES = ("/static/", "/.well-known/")


def credentials_of(headers, args, remote_addr) -> Credentials:
    return Credentials(
        headers={key.lower(): value for key, value in headers.items()},
        query=dict(args),
        client_address=remote_addr,
    )


def requires(action: str, target: str):
    """Declare the right a view needs (`forge_authorize`'s action and target). The guard checks it
    before the view runs, so before the body or query is read and validated: a caller without the
    right gets 403, never a 422 describing the payload it may not send."""

    def mark(view):
        view.forge_requires = (action, target)
        return view

    return mark


def public(view):
    """Mark a plugin's view as answering without credentials (a login page, its stylesheet):
    `authenticate_request` lets it through with `g.principal` None."""
    view.forge_public = True
    return view


async def authenticate_request() -> None:
    """`before_request`: put the caller's principal on `g`, or fail with 401; then check what the
    view `requires`, or fail with 403."""
    view = current_app.view_functions.get(request.endpoint)
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or getattr(view, "forge_public", False):
        g.principal = None
        return
    gateway = current_app.config["FORGE_GATEWAY"]
    g.principal = await authenticate(gateway, credentials_of(request.headers, request.args, request.remote_addr))
    needed = getattr(view, "forge_requires", None)
    if needed is not None:
        await authorize(gateway, g.principal, *needed)


async def require(action: str, target: str) -> None:
    """Raise `NotAllowed` (403) unless the caller may do `action` on `target`."""
    await authorize(current_app.config["FORGE_GATEWAY"], g.principal, action, target)
