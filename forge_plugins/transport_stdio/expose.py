"""`forge-stdio expose --cmd "python server.py" --port 9000`: one local stdio MCP server served over
Streamable HTTP at /mcp (and HTTP+SSE at /sse, WebSocket at /ws when those plugins are installed),
with nothing to set up: what ContextForge calls `translate`.

Layer: command, above the whole of Forge. Design: rather than a second implementation of the
server-side transports, this runs Forge itself, cut down to the one job:

- its database is a SQLite file in a temporary folder, deleted on exit: nothing to configure,
  nothing left behind;
- the command is registered at start-up (`ExposedCommand`, a `forge_startup` hook that runs
  before the federation plugin's, and another after it that waits, at most FEDERATION_TIMEOUT,
  for the command's first start) as a stdio gateway with no name prefix, so the federation
  plugin starts it, restarts it with backoff when it dies, relays progress, logs and
  server-to-client requests, and its tools, prompts and resources keep their own names;
- only the MCP endpoints and /health are served (`only_mcp`): the management API and admin UI,
  through which a caller could register other commands, answer 404;
- AUTH_REQUIRED defaults to false (it binds 127.0.0.1 unless told otherwise); set AUTH_REQUIRED
  and the auth plugin's settings in the environment to require credentials. Other Forge settings
  come from the environment too, as for `forge serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Mapping

from hypercorn.asyncio import serve
from hypercorn.config import Config

from forge import http
from forge.app import create_app
from forge.hookspecs import hookimpl
from forge.logs import configure_logging
from forge.settings import load_settings

EXPOSED_PATHS = frozenset({"/mcp", "/sse", "/message", "/ws", "/health"})
OPTIONAL_TRANSPORTS = (("sse", "/sse"), ("websocket", "/ws"))


class ExposedCommand:
    """A plugin object registering the exposed command as a gateway before federation starts."""

    def __init__(self, command: str, name: str, env: Mapping[str, str]):
        self.record = {
            "name": name,
            "url": command,  # a stdio gateway's url is its command line
            "transport": "stdio",
            "prefix": "",
            "headers": dict(env),  # a stdio gateway's headers are its environment variables
            "description": "the command served by forge-stdio expose",
        }

    @hookimpl(tryfirst=True)
    def forge_startup(self, gateway):
        return gateway.store.create("gateways", self.record)  # awaited before the federation starts

    @hookimpl(specname="forge_startup", trylast=True)
    def wait_for_the_command(self, gateway):
        return self._first_start(gateway)  # awaited after the federation has started it

    @staticmethod
    async def _first_start(gateway) -> None:
        """Serve once the command has started and its catalog is imported (or its start failed)."""
        from forge_plugins.federation import federation_of

        federation = federation_of(gateway)
        for upstream in list(federation.upstreams.values()):
            await upstream.first_attempt(federation.timeout + 5)


def only_mcp(app):
    """`app` answering only the MCP endpoints and /health; any other path is 404."""

    async def filtered(scope, receive, send):
        if scope["type"] == "lifespan" or scope.get("path") in EXPOSED_PATHS:
            await app(scope, receive, send)
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": "not found"})
        else:
            message = f"Not Found: forge-stdio expose serves only {', '.join(sorted(EXPOSED_PATHS))}"
            await http.send_json(send, 404, {"error": message})

    return filtered


async def expose(command: str, *, host: str, port: int, name: str, env: Mapping[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="forge-expose-") as folder:
        overrides = {
            "database_url": f"sqlite:///{os.path.join(folder, 'forge.db')}",
            "host": host,
            "port": port,
            "federation_enabled": True,
            "federation_peers": [],
            "workers": 1,
        }
        if "AUTH_REQUIRED" not in os.environ:
            overrides["auth_required"] = False
        settings = load_settings(**overrides)
        configure_logging(settings)
        app = create_app(settings, plugins=[ExposedCommand(command, name, env)])
        config = Config()
        config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
        config.accesslog = None
        config.graceful_timeout = 5
        config.include_server_header = False
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
                loop.add_signal_handler(signum, stopping.set)
        also = [f"{path} ({kind})" for kind, path in OPTIONAL_TRANSPORTS if kind in app.gateway.transports]
        print(
            f"forge-stdio expose: serving {command!r} at http://{host}:{port}/mcp"
            + (f", also {', '.join(also)}" if also else ""),
            file=sys.stderr,
            flush=True,
        )
        await serve(only_mcp(app), config, shutdown_trigger=stopping.wait)
