"""Forge plugin: HTTP Basic and JWT bearer authentication, revocation, throttling, secrets at rest.

- `forge_authenticate`: Basic against BASIC_AUTH_USER/BASIC_AUTH_PASSWORD (constant-time), or
  `Authorization: Bearer <JWT>` verified with JWT_ALGORITHM only (HS256 with JWT_SECRET_KEY by
  default; RS*/PS*/ES*/EdDSA with JWT_PUBLIC_KEY_FILE); `exp` and `iat` required, `nbf` honoured,
  `aud`/`iss` required when JWT_AUDIENCE/JWT_ISSUER are set; a revoked `jti` is refused. A token's
  `scopes` claim (a list or a space-separated string; OAuth's `scope` too) limits it: "admin",
  "read", "server:<id>"; a token with none is an admin token, as ContextForge's are. Failures
  count per client address: past AUTH_MAX_FAILURES per AUTH_FAILURE_WINDOW seconds, 429.
- `forge_cluster_event`: a revocation another process made (CACHE_TYPE=redis), applied at once;
  this process publishes its own the same way (`revocation.REVOKED`).
- `forge_credential_valid`: a token behind an open connection (WebSocket, SSE, a session's stream)
  holds until revoked or past its `exp`; the kernel then ends the connection. Basic holds.
- `forge_auth_challenge`: Basic on the management API and UI; on MCP endpoints a Bearer challenge
  naming /.well-known/oauth-protected-resource (the MCP authorization spec, RFC 9728).
- `forge_blueprints`: that metadata, `GET /auth/tokens/revoked`, `POST /auth/tokens/{jti}/revoke`,
  and `POST /auth/tokens` / `GET /auth/tokens`: tokens the gateway signs, recorded in the plugin's
  own table `issued_tokens` (`issued`) and listed (the admin UI's tokens panel uses `tokens_of`).
- `forge_secret_codec`: AES-GCM with a key derived from AUTH_ENCRYPTION_SECRET, so the upstream
  headers of tools and gateways are stored encrypted (`codec`).
- `forge_cli_commands`: `forge token` (and `forge token revoke JTI`, `forge token list` on the
  database), `forge secrets rotate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from weakref import WeakKeyDictionary

import click

from forge.hookspecs import hookimpl
from forge_plugins.auth_basic_jwt.authenticator import Authenticator
from forge_plugins.auth_basic_jwt.challenges import challenge
from forge_plugins.auth_basic_jwt.codec import AesGcmCodec
from forge_plugins.auth_basic_jwt.issued import IssuedTokens
from forge_plugins.auth_basic_jwt.keys import HMAC_ALGORITHMS
from forge_plugins.auth_basic_jwt.revocation import REVOKED
from forge_plugins.auth_basic_jwt.routes import build_blueprint
from forge_plugins.auth_basic_jwt.secrets_cli import secrets_group
from forge_plugins.auth_basic_jwt.settings import AuthSettings, settings_of
from forge_plugins.auth_basic_jwt.tokens import create_token, token_command

log = logging.getLogger("forge.auth")
# The seed's example values: fine on a laptop, never on a network.
EXAMPLE_SECRETS = {
    "BASIC_AUTH_PASSWORD": "changeme",
    "JWT_SECRET_KEY": "my-test-key",
    "AUTH_ENCRYPTION_SECRET": "my-test-salt",
}

_authenticators: WeakKeyDictionary = WeakKeyDictionary()
_refreshers: WeakKeyDictionary = WeakKeyDictionary()
_issued: WeakKeyDictionary = WeakKeyDictionary()


def authenticator_of(gateway) -> Authenticator:
    """This gateway's authenticator (one per gateway: tests run several in one process)."""
    found = _authenticators.get(gateway)
    if found is None:
        found = _authenticators[gateway] = Authenticator(gateway, settings_of(gateway))
    return found


def tokens_of(gateway) -> IssuedTokens:
    """The tokens this gateway signs and records (opened at start-up)."""
    found = _issued.get(gateway)
    if found is None:
        found = _issued[gateway] = IssuedTokens(
            gateway, settings_of(gateway), authenticator_of(gateway).revoked
        )
    return found


@hookimpl
def forge_settings_sections():
    return AuthSettings


@hookimpl
def forge_authenticate(gateway, credentials):
    return authenticator_of(gateway).authenticate(credentials)


@hookimpl
def forge_credential_valid(gateway, principal):
    return authenticator_of(gateway).still_valid(principal)


@hookimpl
def forge_cluster_event(gateway, topic, data):
    if topic == REVOKED:
        return authenticator_of(gateway).revoked.told(data)
    return None


@hookimpl
def forge_auth_challenge(gateway, credentials):
    return challenge(gateway, credentials)


@hookimpl
def forge_secret_codec(gateway):
    return AesGcmCodec(gateway.settings.auth_encryption_secret)


@hookimpl
def forge_blueprints(gateway):
    # a bad JWT setting stops start-up here
    return [build_blueprint(authenticator_of(gateway), tokens_of(gateway))]


@hookimpl
def forge_startup(gateway):
    return _start(gateway)


async def _start(gateway) -> None:
    authenticator = authenticator_of(gateway)
    authenticator.verifier.load()
    await authenticator.revoked.load(gateway.store)
    authenticator.revoked.on_change = gateway.credential_watch.sweep  # revoked: their connections end
    authenticator.revoked.on_revoke = lambda jti: gateway.publish_cluster_event(REVOKED, {"jti": jti})
    await tokens_of(gateway).open(gateway.store, gateway.settings.async_database_url)
    _refreshers[gateway] = asyncio.create_task(authenticator.revoked.refresh_periodically())
    if gateway.settings.auth_required:
        if (
            authenticator.verifier.algorithm in HMAC_ALGORITHMS
            and len(gateway.settings.jwt_secret_key.encode()) < 32
        ):
            log.warning(
                "JWT_SECRET_KEY is shorter than 32 bytes: tokens signed with it can be forged by guessing it"
            )
        for name, example in EXAMPLE_SECRETS.items():
            if getattr(gateway.settings, name.lower()) == example:
                log.warning(
                    "%s is the example value %r: set your own before exposing this gateway", name, example
                )


@hookimpl
def forge_shutdown(gateway):
    return _stop(gateway, _refreshers.pop(gateway, None))


async def _stop(gateway, task: asyncio.Task | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await tokens_of(gateway).close()


@hookimpl
def forge_cli_commands(cli: click.Group):
    cli.add_command(token_command)
    cli.add_command(secrets_group)


__all__ = ["create_token", "tokens_of"]
