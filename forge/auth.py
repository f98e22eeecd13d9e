"""Authentication and authorization as the kernel asks for them, over the plugins' answers.

Layer: kernel. Transports and the management API call `authenticate` and `authorize`; plugins
implementing `forge_authenticate` / `forge_authorize` decide.
"""

from __future__ import annotations

from forge.contracts import Credentials, Principal
from forge.plugins import first_answer

DEFAULT_CHALLENGE = 'Basic realm="forge"'


class AuthenticationFailed(Exception):
    """Credentials are missing or not valid (HTTP 401). `challenge` is the WWW-Authenticate value.

    Every front door (the management API, each MCP transport) answers `status` with `headers`.
    """

    status = 401
    code = "unauthenticated"

    def __init__(self, message: str = "authentication required", challenge: str = DEFAULT_CHALLENGE):
        super().__init__(message)
        self.challenge = challenge

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.challenge}


class TooManyFailures(AuthenticationFailed):
    """Too many failed attempts from one client address (HTTP 429): wait `retry_after` seconds."""

    status = 429
    code = "too_many_failures"

    def __init__(self, retry_after: int, message: str = "too many failed authentication attempts"):
        super().__init__(f"{message}; retry in {retry_after} s")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class NotAllowed(Exception):
    """A valid principal lacks the right for what it asked (HTTP 403)."""


async def authenticate(gateway, credentials: Credentials) -> Principal:
    """The principal behind `credentials`; raises `AuthenticationFailed` when nobody vouches for it,
    with the challenge `forge_auth_challenge` answers (Basic when no plugin does)."""
    principal = await first_answer(gateway.hook.forge_authenticate, gateway=gateway, credentials=credentials)
    if principal is None:
        challenge = await first_answer(
            gateway.hook.forge_auth_challenge, gateway=gateway, credentials=credentials
        )
        raise AuthenticationFailed(challenge=challenge or DEFAULT_CHALLENGE)
    return principal


async def authorize(gateway, principal: Principal, action: str, target: str) -> None:
    """Return quietly when `principal` may do `action` on `target`; raise `NotAllowed` otherwise."""
    allowed = await first_answer(
        gateway.hook.forge_authorize, gateway=gateway, principal=principal, action=action, target=target
    )
    if not allowed:
        raise NotAllowed(f"{principal.name!r} may not {action} {target}")


async def mcp_principal(gateway, credentials: Credentials, server_id: str | None) -> Principal:
    """Who may speak MCP on the endpoints of virtual server `server_id` (None: the gateway-wide
    ones): every transport's admission check. Raises `AuthenticationFailed` or `NotAllowed`."""
    principal = await authenticate(gateway, credentials)
    await authorize(gateway, principal, "mcp", f"server:{server_id}" if server_id else "mcp:all")
    return principal
