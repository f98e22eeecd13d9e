"""Authentication and authorization as the kernel asks for them, over the plugins' answers.

Layer: kernel. Transports and the management API call `authenticate` and `authorize`; plugins
implementing `forge_authenticate` / `forge_authorize` decide.
"""

from __future__ import annotations

from forge.contracts import Credentials, Principal
from forge.plugins import first_answer


class AuthenticationFailed(Exception):
    """Credentials were presented but are not valid. `challenge` is the WWW-Authenticate value."""

    def __init__(self, message: str = "authentication required", challenge: str = 'Basic realm="forge"'):
        super().__init__(message)
        self.challenge = challenge


class NotAllowed(Exception):
    """A valid principal lacks the right for what it asked (HTTP 403)."""


async def authenticate(gateway, credentials: Credentials) -> Principal:
    """The principal behind `credentials`; raises `AuthenticationFailed` when nobody vouches for it."""
    principal = await first_answer(gateway.hook.forge_authenticate, gateway=gateway, credentials=credentials)
    if principal is None:
        raise AuthenticationFailed()
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
