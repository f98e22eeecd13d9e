"""Who is calling: HTTP Basic and JWT bearer credentials, checked for one gateway.

Layer: plugin, called by the plugin's `forge_authenticate` on every request (MCP hot path
included), so it reads no database and no file: the verification key is loaded at start-up, the
revoked tokens are a set in memory. Failures count against the caller's address (`throttle`).
A verified token's claims are kept for up to TOKEN_CACHE_SECONDS (never past its `exp`), so a
client reusing its token skips the signature check (~0.1 ms a request, measured); revocation is
still checked on every request. `still_valid` re-checks the principal of a connection that stays
open (a WebSocket, a stream) against the same revocation list and the token's `exp`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping
from typing import Any

from forge.auth import AuthenticationFailed
from forge.contracts import Credentials, Principal
from forge_plugins.auth_basic_jwt.challenges import challenge
from forge_plugins.auth_basic_jwt.jwt_verifier import JwtVerifier, TokenRejected
from forge_plugins.auth_basic_jwt.revocation import RevocationList
from forge_plugins.auth_basic_jwt.settings import AuthSettings
from forge_plugins.auth_basic_jwt.throttle import FailureThrottle

TOKEN_CACHE_SECONDS = 30.0
TOKEN_CACHE_SIZE = 4096  # distinct tokens remembered; the oldest is forgotten first


class BadPassword(Exception):
    pass


class Authenticator:
    def __init__(self, gateway, auth_settings: AuthSettings):
        self.gateway = gateway
        self.settings = gateway.settings
        self.verifier = JwtVerifier(gateway.settings, auth_settings)
        self.throttle = FailureThrottle(auth_settings.auth_max_failures, auth_settings.auth_failure_window)
        self.revoked = RevocationList(auth_settings.auth_revocation_refresh)
        self._verified: dict[str, tuple[float, Mapping[str, Any]]] = {}  # token: (good until, claims)

    def authenticate(self, credentials: Credentials) -> Principal | None:
        """The principal of Basic or Bearer credentials; None for other schemes (another plugin's)."""
        scheme, _, value = credentials.headers.get("authorization", "").partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme not in ("basic", "bearer") or not value:
            return None
        self.throttle.check(credentials.client_address)
        try:
            return self._basic(value) if scheme == "basic" else self._bearer(value)
        except BadPassword as failure:
            self.throttle.failed(credentials.client_address)
            raise AuthenticationFailed(str(failure), challenge(self.gateway, credentials)) from None
        except TokenRejected as failure:
            self.throttle.failed(credentials.client_address)
            raise AuthenticationFailed(
                str(failure), challenge(self.gateway, credentials, str(failure))
            ) from None

    def _basic(self, encoded: str) -> Principal:
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise BadPassword("malformed Basic credentials") from None
        user_ok = hmac.compare_digest(user.encode(), self.settings.basic_auth_user.encode())
        password_ok = hmac.compare_digest(password.encode(), self.settings.basic_auth_password.encode())
        if not (user_ok and password_ok):
            raise BadPassword("wrong user name or password")
        return Principal(name=user, scopes=frozenset({"admin"}), method="basic")

    def _bearer(self, token: str) -> Principal:
        claims = self._claims(token)
        if claims.get("jti") in self.revoked:
            raise TokenRejected("the token has been revoked")
        name = str(claims.get("sub") or claims.get("username") or anonymous_token_name(claims))
        return Principal(name=name, scopes=scopes_of(claims), method="jwt", claims=claims)

    def still_valid(self, principal: Principal) -> bool | None:
        """Whether the token a principal was made from still holds: not revoked, not expired (the
        `forge_credential_valid` answer, asked about open connections). None for Basic principals,
        whose user and password are settings that cannot change while the process runs, and for
        other plugins' principals."""
        if principal.method != "jwt":
            return None
        claims = principal.claims
        if claims.get("jti") in self.revoked:
            return False
        return float(claims.get("exp", 0)) + self.verifier.leeway > time.time()

    def _claims(self, token: str) -> Mapping[str, Any]:
        """The token's verified claims, from the cache while they are fresh."""
        now = time.monotonic()
        cached = self._verified.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        claims = self.verifier.claims(token)
        lifetime = min(TOKEN_CACHE_SECONDS, float(claims.get("exp", 0)) - time.time())
        if lifetime > 0:
            if len(self._verified) >= TOKEN_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (now + lifetime, claims)
        return claims


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """A token's `scopes` (a list, or a space-separated string) or OAuth's `scope` string; a token
    with neither is an admin token, as ContextForge's are."""
    scopes = claims.get("scopes", claims.get("scope"))
    if scopes is None:
        return frozenset({"admin"})
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list):
        raise TokenRejected("the token's scopes claim is neither a list nor a string")
    return frozenset(map(str, scopes))


def anonymous_token_name(claims) -> str:
    """The principal name of a token that names no subject: its own id, so two such tokens are two
    principals (sessions and private cache entries are bound to the name) rather than one "token"."""
    jti = claims.get("jti")
    return f"token {jti}" if jti else "token"
