"""Default plugin: the kernel's commands — `forge serve`, `forge db upgrade`, `forge plugins`."""

from __future__ import annotations

import asyncio
import json

import click

from forge.hookspecs import hookimpl


def _settings(**overrides):
    from forge.settings import load_settings

    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


async def _upgrade(database_url: str) -> None:
    from forge.store.repository import Store

    store = Store(database_url)
    try:
        await store.open()
    finally:
        await store.close()


def upgrade_database(settings) -> None:
    """Run migrations, turning any database failure into one readable line."""
    from forge.settings import SettingsError

    try:
        asyncio.run(_upgrade(settings.async_database_url))
    except Exception as error:
        raise SettingsError(f"cannot open the database at DATABASE_URL ({type(error).__name__}: {error})") from None


@click.command()
@click.option("--host", help="Address to bind (default: HOST).")
@click.option("--port", type=int, help="Port to bind (default: PORT).")
@click.option("--workers", type=int, help="Worker processes (default: WORKERS).")
def serve(host, port, workers):
    """Run the gateway with Hypercorn."""
    from hypercorn.config import Config
    from hypercorn.run import run

    from forge.app import create_app
    from forge.logs import configure_logging

    settings = _settings(host=host, port=port, workers=workers)
    configure_logging(settings)
    create_app(settings)  # fail here, with one line, on a bad plugin or setting
    upgrade_database(settings)
    config = Config()
    config.application_path = "forge.app:app_factory()"
    config.bind = [f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"]
    config.workers = 0 if settings.workers == 1 else settings.workers  # 0: serve in this process
    config.accesslog = None
    config.graceful_timeout = 10
    config.include_server_header = False
    click.echo(f"Forge listening on http://{settings.host}:{settings.port} (MCP at /mcp, API docs at /docs)", err=True)
    run(config)


@click.group()
def db():
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade():
    """Apply the database migrations (start-up does this too)."""
    settings = _settings()
    upgrade_database(settings)
    click.echo("database is up to date")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json):
    """List the loaded plugins: name, distribution, version and hooks."""
    from forge.plugins import build_plugin_manager, describe_plugins

    settings = _settings()
    described = describe_plugins(build_plugin_manager(settings.plugins_disabled))
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    for plugin in described:
        click.echo(f"{plugin['name']:<20} {plugin['distribution']} {plugin['version']}")
        click.echo(f"{'':<20} hooks: {', '.join(plugin['hooks'])}")


@hookimpl
def forge_cli_commands(cli):
    cli.add_command(serve)
    cli.add_command(db)
    cli.add_command(plugins)
