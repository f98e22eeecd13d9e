"""The UI's signed session cookie, its CSRF tokens and one-shot messages.

Layer: plugin, between the views (which issue and clear sessions) and the kernel's authentication:
`principal_from_cookies` is what the plugin's `forge_authenticate` answers, so a logged-in browser
is a caller like any other and the kernel's guard, `g.principal` and `forge_authorize` apply as
they do to the management API. The cookies are scoped to the UI's path, so a browser never sends
them to the API or the MCP endpoints.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.http import parse_cookie

from forge.contracts import Principal
from forge_plugins.admin_ui.settings import session_secret, settings_of

SESSION_COOKIE = "forge_admin_session"
CSRF_COOKIE = "forge_admin_csrf"
FLASH_COOKIE = "forge_admin_flash"
CSRF_FIELD = "csrf_token"
FLASH_SECONDS = 120


class Sessions:
    """Signs and checks what the UI keeps in cookies, with one key."""

    def __init__(self, secret: bytes, minutes: int):
        self.max_age = minutes * 60
        self._sessions = URLSafeTimedSerializer(secret, salt="forge-admin-ui/session")
        self._flashes = URLSafeTimedSerializer(secret, salt="forge-admin-ui/flash")
        self._csrf_key = hmac.new(secret, b"forge-admin-ui/csrf", hashlib.sha256).digest()

    def issue(self, principal: Principal) -> str:
        return self._sessions.dumps({"name": principal.name, "scopes": sorted(principal.scopes)})

    def principal(self, value: str) -> Principal | None:
        """The principal a session cookie vouches for; None when forged, garbled or expired."""
        try:
            data = self._sessions.loads(value, max_age=self.max_age)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return None
        return Principal(
            name=data["name"], scopes=frozenset(map(str, data.get("scopes", ()))), method="admin_ui"
        )

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, nonce: str) -> str:
        """The token forms carry: bound to the browser's CSRF cookie, unforgeable without the key."""
        return hmac.new(self._csrf_key, nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, nonce: str | None, token: str | None) -> bool:
        return bool(nonce and token) and hmac.compare_digest(self.csrf_token(nonce), token)

    def flash(self, message: str, category: str = "success") -> str:
        return self._flashes.dumps([category, message])

    def read_flash(self, value: str | None) -> tuple[str, str] | None:
        if not value:
            return None
        try:
            category, message = self._flashes.loads(value, max_age=FLASH_SECONDS)
        except (BadSignature, ValueError, TypeError):
            return None
        return str(category), str(message)


@lru_cache(maxsize=32)
def _sessions(secret: bytes, minutes: int) -> Sessions:
    return Sessions(secret, minutes)


def sessions_of(gateway) -> Sessions:
    return _sessions(session_secret(gateway), settings_of(gateway).session_minutes)


def principal_from_cookies(gateway, cookie_header: str | None) -> Principal | None:
    """The logged-in principal of a `Cookie` header, or None (no session, or not a valid one).

    Runs for every authenticated request, MCP included, so it returns at once when the header
    does not mention the session cookie.
    """
    if not cookie_header or SESSION_COOKIE not in cookie_header:
        return None
    value = parse_cookie(cookie_header).get(SESSION_COOKIE)
    return sessions_of(gateway).principal(value) if value else None
