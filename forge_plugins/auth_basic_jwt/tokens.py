"""Making tokens: `forge token` and `python -m forge_plugins.auth_basic_jwt.create_token`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import click
import jwt


def create_token(username: str, secret: str, *, expires_minutes: int | None = 10080, algorithm: str = "HS256",
                 scopes: list[str] | None = None) -> str:
    """A signed JWT for `username`; `expires_minutes` 0 or None makes one that never expires."""
    now = datetime.now(UTC)
    claims = {"sub": username, "username": username, "iat": now, "jti": secrets.token_hex(16)}
    if expires_minutes:
        claims["exp"] = now + timedelta(minutes=expires_minutes)
    if scopes:
        claims["scopes"] = scopes
    return jwt.encode(claims, secret, algorithm=algorithm)


@click.command("token")
@click.option("--username", "-u", default=None, help="Who the token names (default: BASIC_AUTH_USER).")
@click.option("--exp", "expires", type=int, default=None, help="Minutes until it expires; 0: never (default: TOKEN_EXPIRY).")
@click.option("--secret", default=None, help="Signing secret (default: JWT_SECRET_KEY).")
@click.option("--scope", "scopes", multiple=True, help="Limit the token: admin, read, server:<id> (repeatable).")
def token_command(username, expires, secret, scopes):
    """Print a JWT for the gateway's API and MCP endpoints."""
    from forge.settings import load_settings

    settings = load_settings()
    click.echo(
        create_token(
            username or settings.basic_auth_user,
            secret or settings.jwt_secret_key,
            expires_minutes=settings.token_expiry if expires is None else expires,
            algorithm=settings.jwt_algorithm,
            scopes=list(scopes) or None,
        )
    )
