"""`forge secrets rotate`: re-encrypt every stored secret under a new AUTH_ENCRYPTION_SECRET.

Layer: plugin command line, over the store's `reseal_secrets`. Stop the gateway, run
`AUTH_ENCRYPTION_SECRET=<new> forge secrets rotate --old-secret <old>`, start it with the new
secret. With `--old-secret` left out the current secret is used for both, which seals values
stored in clear before the plugin was installed. One transaction: all values or none.
"""

from __future__ import annotations

import asyncio

import click


@click.group("secrets")
def secrets_group():
    """Stored upstream credentials (headers of tools and gateways)."""


@secrets_group.command("rotate")
@click.option(
    "--old-secret",
    default=None,
    help="The secret the values are encrypted with now (default: AUTH_ENCRYPTION_SECRET).",
)
@click.option(
    "--new-secret", default=None, help="The secret to encrypt them with (default: AUTH_ENCRYPTION_SECRET)."
)
def rotate(old_secret, new_secret):
    """Decrypt every stored secret with the old secret and encrypt it with the new one."""
    from forge.settings import load_settings
    from forge.store.repository import StoreError
    from forge_plugins.auth_basic_jwt.codec import AesGcmCodec

    settings = load_settings()
    old = AesGcmCodec(old_secret or settings.auth_encryption_secret)
    new = AesGcmCodec(new_secret or settings.auth_encryption_secret)
    try:
        count = asyncio.run(_reseal(settings.async_database_url, old, new))
    except StoreError as error:
        raise click.ClickException(f"nothing was changed: {error}") from None
    click.echo(f"re-encrypted {count} stored secret value(s)")


async def _reseal(database_url: str, old, new) -> int:
    from forge.store.repository import Store

    store = Store(database_url)
    await store.open()
    try:
        return await store.reseal_secrets(old, new)
    finally:
        await store.close()
