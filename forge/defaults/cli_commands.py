"""Default plugin: the kernel's commands — `forge serve` (Hypercorn, uvicorn or Granian), `forge db upgrade`,
`forge plugins`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time

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


SERVERS = ("hypercorn", "uvicorn", "granian")
WORKER_POLL_SECONDS = 0.1  # how often a worker looks whether its parent was told to stop
LEFTOVER_THREAD_SECONDS = 5.0  # after shutdown, how long threads a library left running may hold the exit
APP_FACTORY = "forge.app:app_factory"


@click.command()
@click.option("--host", help="Address to bind (default: HOST).")
@click.option("--port", type=int, help="Port to bind (default: PORT).")
@click.option("--workers", type=int, help="Worker processes (default: WORKERS); more than one needs CACHE_TYPE=redis.")
@click.option(
    "--server", type=click.Choice(SERVERS), default="hypercorn", show_default=True,
    help="ASGI server: uvicorn and granian are extras (pip install 'forge-gateway[uvicorn]').",
)
def serve(host, port, workers, server):
    """Run the gateway with Hypercorn, uvicorn or Granian.

    Workers share nothing but the database and the cache: with CACHE_TYPE=redis they tell each
    other of catalog changes and continue each other's MCP sessions (`forge.cluster`)."""
    from forge.app import create_app, tune_garbage_collector
    from forge.logs import configure_logging
    from forge.settings import SettingsError

    tune_garbage_collector()
    settings = _settings(host=host, port=port, workers=workers)
    if settings.workers > 1 and settings.cache_type != "redis":
        raise SettingsError(
            f"WORKERS={settings.workers} needs CACHE_TYPE=redis: workers share catalog changes and sessions through Redis"
        )
    run = {"hypercorn": _hypercorn, "uvicorn": _uvicorn, "granian": _granian}[server]
    configure_logging(settings)
    app = create_app(settings)  # fail here, with one line, on a bad plugin or setting
    upgrade_database(settings)
    click.echo(
        f"Forge listening on http://{settings.host}:{settings.port} with {server}, {settings.workers} worker(s) "
        "(MCP at /mcp, API docs at /docs)",
        err=True,
    )
    run(settings, app)


def _missing(server: str) -> None:
    from forge.settings import SettingsError

    raise SettingsError(f"--server {server} needs {server} installed: pip install 'forge-gateway[{server}]'")


def _hypercorn(settings, app) -> None:
    """One worker: `app` served in this process. Several: worker processes (`_hypercorn_workers`).
    Either way each is told of SIGTERM before Hypercorn stops listening (`_serve_here`)."""
    from forge.defaults.hypercorn_tuning import ForgeHypercornConfig

    config = ForgeHypercornConfig()
    config.application_path = f"{APP_FACTORY}()"
    config.bind = [f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"]
    config.workers = settings.workers
    config.accesslog = None
    config.graceful_timeout = settings.shutdown_grace_seconds
    config.include_server_header = False
    if settings.workers > 1:
        sys.exit(_hypercorn_workers(config, settings.workers))
    _run(_serve_here(app, config))
    _exit_despite_leftover_threads()


async def _serve_here(app, config, sockets=None, told=None) -> None:
    """Serve until SIGTERM or SIGINT (or, in a worker, until the parent sets `told`). Then,
    before Hypercorn stops listening, the gateway starts draining (`Gateway.drain`: streams end,
    sessions close as their calls finish); Hypercorn waits up to SHUTDOWN_GRACE_SECONDS for the
    requests in flight, then the gateway stops (sessions, upstreams and their stdio children,
    store). Without the early word, an open stream would hold the shutdown for the whole grace
    period and then be cut."""
    from hypercorn.asyncio.run import worker_serve
    from hypercorn.utils import wrap_app

    from forge.defaults.hypercorn_tuning import use_lean_connections

    use_lean_connections()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    async def shutdown_trigger() -> None:
        while not stopping.is_set() and not (told is not None and told.is_set()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), WORKER_POLL_SECONDS)
        app.gateway.drain()

    await worker_serve(wrap_app(app, config.wsgi_max_body_size, None), config, sockets=sockets,
                       shutdown_trigger=shutdown_trigger)


def _hypercorn_workers(config, count: int) -> int:
    """Run `count` worker processes on shared sockets, as Hypercorn's own `run` does, but whose
    gateways hear of SIGTERM at once (`_serve_here`). A worker that exits cleanly while serving
    is replaced; one that fails stops them all. Answers the exit code."""
    from multiprocessing import get_context
    from multiprocessing.connection import wait

    context = get_context("spawn")
    sockets = config.create_sockets()
    told = context.Event()

    def start():
        worker = context.Process(target=_hypercorn_worker, kwargs={"config": config, "sockets": sockets, "told": told})
        worker.start()
        return worker

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: told.set())
    workers, code = [start() for _ in range(count)], 0
    while workers:
        wait([worker.sentinel for worker in workers])
        for worker in [worker for worker in workers if not worker.is_alive()]:
            workers.remove(worker)
            worker.join()
            if told.is_set():
                continue
            if worker.exitcode == 0:
                workers.append(start())
            else:
                code = worker.exitcode or 1
                told.set()
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
        sock.close()
    return code


def _hypercorn_worker(config, sockets, told) -> None:
    """One worker process of `_hypercorn_workers`: its own app, on the shared sockets."""
    from forge.app import app_factory

    _run(_serve_here(app_factory(), config, sockets=sockets, told=told))
    _exit_despite_leftover_threads()


def _run(main) -> None:
    """Run Hypercorn's coroutine on uvloop's event loop when uvloop is installed (the `uvicorn`
    extra brings it): its loop costs less per request than asyncio's; else on asyncio's."""
    try:
        from uvloop import new_event_loop
    except ImportError:
        new_event_loop = None
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main)


def _exit_despite_leftover_threads(seconds: float = LEFTOVER_THREAD_SECONDS) -> None:
    """Once the server has stopped, a non-daemon thread left running (a database connection a
    library never closed, an exporter stuck on the network) would keep the process alive after
    SIGTERM, silently: give such threads a moment, then name them and exit anyway."""
    leftovers = [thread for thread in threading.enumerate() if thread is not threading.main_thread() and not thread.daemon]
    deadline = time.monotonic() + seconds
    for thread in leftovers:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in leftovers if thread.is_alive()]
    if alive:
        logging.getLogger("forge").warning("exiting despite threads still running: %s", ", ".join(alive))
        logging.shutdown()
        os._exit(0)


def _uvicorn(settings, app) -> None:
    try:
        import uvicorn
    except ImportError:
        _missing("uvicorn")
    uvicorn.run(
        APP_FACTORY, factory=True, host=settings.host, port=settings.port, workers=settings.workers,
        access_log=False, log_level="warning", server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        proxy_headers=False,  # uvicorn would believe X-Forwarded-* from 127.0.0.1; TRUSTED_PROXIES decides
    )


def _granian(settings, app) -> None:
    try:
        from granian import Granian
        from granian.constants import Interfaces
    except ImportError:
        _missing("granian")
    Granian(
        APP_FACTORY, factory=True, address=settings.host, port=settings.port, interface=Interfaces.ASGI,
        workers=settings.workers, log_access=False, workers_kill_timeout=max(1, round(settings.shutdown_grace_seconds)),
    ).serve()


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
