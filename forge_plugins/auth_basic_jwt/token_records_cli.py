"""`forge token revoke JTI` and `forge token list`: the tokens in the database, from the command line.

Layer: plugin command line, over the same objects the API uses: `RevocationList.revoke` (what
`POST /auth/tokens/{jti}/revoke` calls) and `IssuedTokens.page` (what `GET /auth/tokens` calls), on
the store opened from DATABASE_URL as `forge serve` opens it. So a gateway may run meanwhile, in
another process. With CACHE_TYPE=redis the revocation is also published on the gateways' channel
(REDIS_URL, REDIS_PREFIX, as `forge serve` reads them: `forge.cluster`), so the gateways sharing that
Redis refuse the token at once; otherwise (or with Redis unreachable: a warning) a running gateway
refuses it once it re-reads the list, every AUTH_REVOCATION_REFRESH seconds. A gateway started later
refuses it at once.

Any jti may be revoked, recorded or not: tokens signed offline by `forge token` are not recorded,
and `forge token --json` prints their jti for this.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json

import click

LIST_LIMIT = 100  # a page of `forge token list`; --limit for more


def _settings():
    """Forge's and the plugin's settings, the ones `forge serve` reads; a bad one is one line."""
    from forge.settings import SettingsError, load_settings
    from forge_plugins.auth_basic_jwt.settings import AuthSettings

    try:
        return load_settings(), load_settings(AuthSettings)
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@contextlib.asynccontextmanager
async def _opened(settings, auth_settings):
    """The revocation list, read, and the issued tokens, over one store on DATABASE_URL (migrated
    as `forge serve` would, so revoking before the first start works too)."""
    from forge.cluster import cluster_for, plugin_event
    from forge.store.repository import Store
    from forge_plugins.auth_basic_jwt.issued import IssuedTokens
    from forge_plugins.auth_basic_jwt.revocation import REVOKED, RevocationList

    store = Store(settings.async_database_url)
    cluster = cluster_for(settings)  # connected only to publish: nothing is listened to here
    try:
        await store.open()
        await cluster.connect()
        revoked = RevocationList(auth_settings.auth_revocation_refresh)
        revoked.on_revoke = lambda jti: cluster.publish(plugin_event(REVOKED, {"jti": jti}))
        await revoked.load(store)
        # No gateway: the command line signs nothing, and only issuing needs one.
        tokens = IssuedTokens(None, auth_settings, revoked)
        await tokens.open(store, settings.async_database_url)
        yield revoked, tokens
    finally:
        await cluster.stop()
        await store.close()


def _run(coroutine):
    """Run it; a database that cannot be opened or read ends the command with one line."""
    try:
        return asyncio.run(coroutine)
    except click.ClickException:
        raise
    except Exception as error:
        raise click.ClickException(
            f"cannot use the database at DATABASE_URL ({type(error).__name__}: {error})"
        ) from None


def _operator() -> str:
    """Who revoked, as the list records it: the API records the caller's name, this the OS user's."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment (a container without one)
        return "cli"


def _jsonable(record: dict) -> dict:
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in record.items()}


@click.command("revoke")
@click.argument("jti")
@click.option("--reason", default=None, help="Why, kept with the revocation.")
@click.option("--json", "as_json", is_flag=True, help="Print the revocation as JSON.")
def revoke_command(jti, reason, as_json):
    """Refuse the token with this JTI from now on, on every endpoint.

    The jti is in `forge token --json` output and in `forge token list`; a token not recorded
    (signed offline by `forge token`) is revoked all the same. Written to the database of
    DATABASE_URL; with CACHE_TYPE=redis also published on REDIS_URL, so running gateways sharing
    that Redis refuse the token at once. Otherwise (or with Redis unreachable) a running gateway
    refuses it when it next re-reads the list, within its AUTH_REVOCATION_REFRESH seconds (default
    30). Either way it then ends the connections the token holds open; a gateway started later
    refuses it at once. Revoking is never undone; revoking again keeps the first record.
    """
    from forge_plugins.auth_basic_jwt.revocation import JTI

    if not JTI.match(jti):
        raise click.BadParameter("a jti is 1 to 255 printable ASCII characters (no spaces)", param_hint="JTI")
    settings, auth_settings = _settings()

    async def revoke():
        from forge.store.repository import NotFound

        async with _opened(settings, auth_settings) as (revoked, tokens):
            already = jti in revoked
            record = await revoked.revoke(jti, revoked_by=_operator(), reason=reason)
            try:
                issued = await tokens.get(jti)
            except NotFound:
                issued = None
            return record, already, issued

    record, already, issued = _run(revoke())
    if as_json:
        shown = {**_jsonable(record), "already_revoked": already, "recorded": issued is not None}
        if issued is not None:
            shown.update(name=issued["name"], subject=issued["subject"])
        click.echo(json.dumps(shown))
        return
    what = f"token {issued['name']!r} of {issued['subject']}" if issued else "a token not recorded here"
    if already:
        click.echo(f"{jti} ({what}) was already revoked, at {record['revoked_at']:%Y-%m-%d %H:%M:%S} UTC")
    else:
        click.echo(f"revoked {jti} ({what})")


@click.command("list")
@click.option(
    "--state",
    type=click.Choice(["active", "expired", "revoked", "all"]),
    default="all",
    show_default=True,
    help="Only the tokens in this state.",
)
@click.option("--search", default=None, help="Part of the name or subject, any case.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=LIST_LIMIT, show_default=True, help="At most this many."
)
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON, as GET /auth/tokens answers.")
def list_command(state, search, limit, as_json):
    """The tokens issued through the API, newest first.

    Name, subject, jti, state and expiry of the tokens `POST /auth/tokens` and the admin UI signed
    (never the token, which is not kept). Tokens signed offline by `forge token` are not recorded,
    so not listed; the revoked ones among them are in `GET /auth/tokens/revoked`."""
    settings, auth_settings = _settings()

    async def listing():
        async with _opened(settings, auth_settings) as (_revoked, tokens):
            return await tokens.page(limit=limit, search=search, state=state)

    items, total = _run(listing())
    if as_json:
        page = {"items": [_jsonable(item) for item in items], "total": total, "offset": 0, "limit": limit}
        click.echo(json.dumps(page))
        return
    if not items:
        click.echo("no tokens recorded" + ("" if state == "all" and not search else " match"))
        return
    rows = [("NAME", "SUBJECT", "JTI", "STATE", "EXPIRES (UTC)")] + [
        (item["name"], item["subject"], item["jti"], item["state"], f"{item['expires_at']:%Y-%m-%d %H:%M}")
        for item in items
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    if total > len(items):
        click.echo(f"{len(items)} of {total} shown: --limit for more")
