"""Making tokens: `forge token` and `python -m forge_plugins.auth_basic_jwt.create_token`.

`forge token` is a group that issues when given no subcommand, so `forge token --username ...`
works as it always did; its subcommands `revoke` and `list` are `token_records_cli`'s.

Layer: plugin command line. Tokens carry `sub`, `iat`, `exp`, a random `jti` (what
`POST /auth/tokens/{jti}/revoke` names), the `scopes` asked for, and `aud`/`iss` when
JWT_AUDIENCE/JWT_ISSUER are set. They are signed with JWT_SECRET_KEY for HS256/384/512, or with
JWT_PRIVATE_KEY_FILE for an asymmetric JWT_ALGORITHM.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import jwt
from click.core import ParameterSource

from forge_plugins.auth_basic_jwt.token_records_cli import list_command, revoke_command


def create_token(
    username: str,
    secret,
    *,
    expires_minutes: int = 10080,
    algorithm: str = "HS256",
    scopes: list[str] | None = None,
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """A signed JWT for `username`. `secret` is the HMAC secret, or a private key (PEM text or a
    `cryptography` key object) for an asymmetric `algorithm`. Tokens always expire: Forge refuses
    one without `exp`."""
    return jwt.encode(
        claims_for(username, expires_minutes, scopes=scopes, audience=audience, issuer=issuer),
        secret,
        algorithm=algorithm,
    )


def claims_for(username, expires_minutes, *, scopes=None, audience=None, issuer=None) -> dict:
    if not expires_minutes or expires_minutes < 1:
        raise ValueError("a token must expire: give it a positive number of minutes")
    now = datetime.now(UTC)
    claims = {
        "sub": username,
        "username": username,
        "iat": now,
        "exp": now + timedelta(minutes=expires_minutes),
        "jti": secrets.token_hex(16),
    }
    if scopes:
        claims["scopes"] = list(scopes)
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return claims


@click.group("token", invoke_without_command=True, subcommand_metavar="[revoke JTI | list]")
@click.option("--username", "-u", default=None, help="Who the token names (default: BASIC_AUTH_USER).")
@click.option(
    "--exp",
    "expires",
    type=click.IntRange(min=1),
    default=None,
    help="Minutes until it expires (default: TOKEN_EXPIRY).",
)
@click.option("--secret", default=None, help="HMAC signing secret (default: JWT_SECRET_KEY).")
@click.option(
    "--private-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM private key for an asymmetric JWT_ALGORITHM (default: JWT_PRIVATE_KEY_FILE).",
)
@click.option(
    "--scope", "scopes", multiple=True, help="Limit the token: admin, read, server:<id> (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the token with its jti and expiry, as JSON.")
@click.pass_context
def token_command(context, username, expires, secret, private_key_file, scopes, as_json):
    """Print a JWT for the gateway's API and MCP endpoints.

    `forge token revoke JTI` refuses a token from then on; `forge token list` shows the tokens
    issued through the API and the admin UI."""
    if context.invoked_subcommand is not None:
        given = [
            parameter.opts[0]
            for parameter in context.command.params
            if context.get_parameter_source(parameter.name) is not ParameterSource.DEFAULT
        ]
        if given:  # `forge token --json list` would otherwise drop them silently
            raise click.UsageError(f"{', '.join(given)}: options for issuing a token, not for a subcommand")
        return
    from forge.plugins import PluginError
    from forge.settings import SettingsError, load_settings
    from forge_plugins.auth_basic_jwt.keys import signing_key
    from forge_plugins.auth_basic_jwt.settings import AuthSettings

    try:  # one readable line, also when run as `python -m ...create_token` outside `forge`
        settings, own = load_settings(), load_settings(AuthSettings)
        algorithm = settings.jwt_algorithm
        key = signing_key(
            algorithm, secret or settings.jwt_secret_key, private_key_file or own.jwt_private_key_file
        )
    except (SettingsError, PluginError) as error:
        raise click.ClickException(str(error)) from None
    claims = claims_for(
        username or settings.basic_auth_user,
        settings.token_expiry if expires is None else expires,
        scopes=list(scopes) or None,
        audience=own.jwt_audience,
        issuer=own.jwt_issuer,
    )
    token = jwt.encode(claims, key, algorithm=algorithm)
    if as_json:
        expiry = claims["exp"].isoformat()
        click.echo(json.dumps({"token": token, "jti": claims["jti"], "expires_at": expiry}))
    else:
        click.echo(token)


token_command.add_command(revoke_command)
token_command.add_command(list_command)
