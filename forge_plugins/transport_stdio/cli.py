"""`forge-stdio` (also `forge stdio` and `python -m forge_plugins.transport_stdio`): the bridge's
command line, and the process around it: stdin and stdout, logging, signals. Its command
`forge-stdio expose` runs the other direction (`forge_plugins.transport_stdio.expose`).

Layer: the outermost, above `forge_plugins.transport_stdio.bridge`. Stdout belongs to the MCP
client: only JSON-RPC messages are written there, one per line; everything else, logs and stray
prints included, goes to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator
from typing import BinaryIO

import click
import orjson

LOG_LEVELS = ("debug", "info", "warning", "error")


async def read_lines(fd: int) -> AsyncIterator[bytes]:
    """Lines of file descriptor `fd`, read by a daemon thread: works for pipes, files and terminals
    alike and never keeps the process alive. It reads the descriptor itself, not `sys.stdin`,
    whose lock it would otherwise hold at interpreter shutdown (a fatal error)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def put(line: bytes | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(queue.put_nowait, line)

    def pump() -> None:
        buffer = bytearray()
        try:
            while chunk := os.read(fd, 1 << 16):
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    put(bytes(buffer[:end]))
                    del buffer[: end + 1]
            if buffer:
                put(bytes(buffer))
        except OSError:
            pass
        finally:
            put(None)

    threading.Thread(target=pump, name="forge-stdio-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


class MessageWriter:
    """Writes one JSON-RPC message per line to the client; a client gone away is logged once."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.broken = False

    def __call__(self, message: dict) -> None:
        if self.broken:
            return
        try:
            self.stream.write(orjson.dumps(message) + b"\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            self.broken = True
            logging.getLogger("forge.stdio").warning("the client closed its input; answers are dropped")


async def run_bridge(
    url: str, headers: dict[str, str], retry_seconds: float, stdin: int, stdout: BinaryIO
) -> None:
    from forge_plugins.transport_stdio.bridge import Bridge  # httpx loads only when the bridge runs

    bridge = Bridge(url, MessageWriter(stdout), headers=headers, retry_seconds=retry_seconds)
    serving = asyncio.create_task(bridge.serve(read_lines(stdin)))
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, serving.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serving


def parse_header(value: str) -> tuple[str, str]:
    name, separator, content = value.partition(":")
    if not separator or not name.strip():
        raise click.BadParameter(f"{value!r} is not 'Name: value'")
    return name.strip(), content.strip()


@click.group("stdio", invoke_without_command=True)
@click.option(
    "--url",
    envvar="FORGE_URL",
    help="Forge's MCP endpoint, e.g. http://localhost:4444/servers/ID/mcp [env FORGE_URL].",
)
@click.option(
    "--token",
    envvar="FORGE_TOKEN",
    help="Bearer token for Forge; the variable keeps it out of process lists [env FORGE_TOKEN].",
)
@click.option(
    "-H", "--header", "headers", multiple=True, help="Another request header, 'Name: value' (repeatable)."
)
@click.option(
    "--retry-seconds",
    type=float,
    default=30.0,
    show_default=True,
    help="How long to retry while Forge is unreachable.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="warning",
    show_default=True,
    help="Logging on stderr.",
)
@click.pass_context
def stdio_command(ctx, url, token, headers, retry_seconds, log_level):
    """Bridge a stdio MCP client (a desktop app, an IDE) to a remote Forge over Streamable HTTP.

    With the command `expose`, the other way round: serve a local stdio MCP server over HTTP."""
    if ctx.invoked_subcommand is not None:
        return
    if not url:
        raise click.UsageError("Missing option '--url' (or the variable FORGE_URL).")
    sent = dict(parse_header(value) for value in headers)
    if token:
        sent["Authorization"] = f"Bearer {token}"
    stdin, stdout = sys.stdin.fileno(), sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol stream
    logging.basicConfig(
        stream=sys.stderr, level=log_level.upper(), format="forge-stdio %(levelname)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    asyncio.run(run_bridge(url, sent, retry_seconds, stdin, stdout))


def parse_variable(value: str) -> tuple[str, str]:
    name, separator, content = value.partition("=")
    if not separator or not name.strip():
        raise click.BadParameter(f"{value!r} is not NAME=VALUE")
    return name.strip(), content


@stdio_command.command("expose")
@click.option(
    "--cmd",
    "command",
    required=True,
    help='The stdio MCP server to run, e.g. "python server.py" (split as a shell would, not run by one).',
)
@click.option("--port", type=int, default=9000, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--name", default="stdio", show_default=True, help="The server's name in Forge's logs and error messages."
)
@click.option(
    "-e",
    "--env",
    "variables",
    multiple=True,
    help="NAME=VALUE for the server's environment (repeatable); it gets only these and the usual PATH, HOME.",
)
def expose_command(command, port, host, name, variables):
    """Serve one stdio MCP server over Streamable HTTP at /mcp (SSE at /sse and WebSocket at /ws when
    those plugins are installed), with no database to set up; restarted with backoff if it dies.

    Forge settings come from the environment (AUTH_REQUIRED defaults to false here)."""
    from forge_plugins.transport_stdio.expose import expose  # loads Forge, which the bridge does not need

    env = dict(parse_variable(value) for value in variables)
    asyncio.run(expose(command, host=host, port=port, name=name, env=env))


def main() -> None:
    stdio_command.main(prog_name="forge-stdio")
