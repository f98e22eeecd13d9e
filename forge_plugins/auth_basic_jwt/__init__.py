"""Forge plugin: HTTP Basic and JWT bearer authentication.

Implements `forge_authenticate` (Basic against BASIC_AUTH_USER/BASIC_AUTH_PASSWORD, compared in
constant time; `Authorization: Bearer <JWT>` verified with JWT_SECRET_KEY and JWT_ALGORITHM) and
adds `forge token` to the command line. A token's `scopes` claim (a list, or a space-separated
string) limits it: "admin", "read", "server:<id>"; a token without one is an admin token, as
ContextForge's are.
"""

from __future__ import annotations

import base64
import binascii
import hmac

import click
import jwt

from forge.auth import AuthenticationFailed
from forge.contracts import Principal
from forge.hookspecs import hookimpl
from forge_plugins.auth_basic_jwt.tokens import create_token, token_command

BASIC_CHALLENGE = 'Basic realm="forge"'
BEARER_CHALLENGE = 'Bearer realm="forge"'


def _basic(gateway, encoded: str) -> Principal:
    settings = gateway.settings
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("malformed Basic credentials", BASIC_CHALLENGE) from None
    user_ok = hmac.compare_digest(user.encode(), settings.basic_auth_user.encode())
    password_ok = hmac.compare_digest(password.encode(), settings.basic_auth_password.encode())
    if not (user_ok and password_ok):
        raise AuthenticationFailed("wrong user name or password", BASIC_CHALLENGE)
    return Principal(name=user, scopes=frozenset({"admin"}), method="basic")


def _bearer(gateway, token: str) -> Principal:
    settings = gateway.settings
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret_key,
            algorithms=[settings.jwt_algorithm],  # one algorithm only: no "none", no confusion
            options={"require": ["exp"]} if settings.token_expiry else None,
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("the token has expired", BEARER_CHALLENGE + ', error="invalid_token"') from None
    except jwt.InvalidTokenError as error:
        raise AuthenticationFailed(f"invalid token: {error}", BEARER_CHALLENGE + ', error="invalid_token"') from None
    scopes = claims.get("scopes", ["admin"])
    if isinstance(scopes, str):
        scopes = scopes.split()
    name = str(claims.get("sub") or claims.get("username") or "token")
    return Principal(name=name, scopes=frozenset(map(str, scopes)), method="jwt", claims=claims)


@hookimpl
def forge_authenticate(gateway, credentials):
    authorization = credentials.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic" and value:
        return _basic(gateway, value.strip())
    if scheme.lower() == "bearer" and value:
        return _bearer(gateway, value.strip())
    return None


@hookimpl
def forge_cli_commands(cli: click.Group):
    cli.add_command(token_command)


__all__ = ["create_token"]
