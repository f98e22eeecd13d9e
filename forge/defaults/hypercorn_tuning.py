"""Hypercorn, with two of its per-request costs taken off Forge's hot path (`forge serve`).

Layer: serving, used only when `forge serve` runs Hypercorn. Behaviour stays Hypercorn's; what
changes is what each request costs (bench/: about a tenth of Forge's CPU for a tools/call):

- keep-alive: Hypercorn starts a task each time a connection falls idle and cancels it (behind
  a lock) when the next request arrives. `KeepAliveWatch` keeps one watcher a connection, which
  reads the time the connection fell idle: a request costs two attribute writes. An idle
  connection still closes after `keep_alive_timeout`, and at once when the server stops; a busy
  one finishes its response first.
- Date: Hypercorn formats the Date header for every response; `ForgeHypercornConfig` formats it
  once a second (RFC 9110 asks a server with a clock to send it, to the second).

`use_lean_connections` swaps the connection class `hypercorn.asyncio.run` uses: Hypercorn offers
no option for it. If a Hypercorn release moves what this relies on, Forge serves with Hypercorn's
own class (tests/test_hypercorn_tuning.py notices).
"""

from __future__ import annotations

import asyncio
import logging
from email.utils import formatdate
from time import time

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config

log = logging.getLogger("forge")


class ForgeHypercornConfig(Config):
    """Hypercorn's configuration, its Date header formatted once a second instead of per response."""

    include_date_header = False  # Hypercorn's own, per response: `response_headers` sends ours
    _date_second = -1
    _date = b""

    def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
        second = int(time())
        if second != self._date_second:
            self._date, self._date_second = formatdate(second, usegmt=True).encode("ascii"), second
        return [(b"date", self._date), *super().response_headers(protocol)]


class KeepAliveWatch:
    """Stands in for `TCPServer.idle_task` (Hypercorn calls `restart` when the connection falls
    idle and `stop` when a request arrives or the connection closes): one task a connection,
    started when it first falls idle, that closes it once it has been idle for
    `keep_alive_timeout`, or at once when the server stops while it is idle."""

    def __init__(self, server: TCPServer):
        self.server = server
        self.idle_since: float | None = None
        self._task: asyncio.Task | None = None

    async def restart(self, task_group, action) -> None:
        self.idle_since = self.server.loop.time()
        if self._task is None or self._task.done():
            self._task = task_group._task_group.create_task(self._watch())

    async def stop(self) -> None:
        self.idle_since = None

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        timeout, loop = self.server.config.keep_alive_timeout, self.server.loop
        terminated = self.server.context.terminated
        while True:
            idle_since = self.idle_since
            wait = timeout if idle_since is None else idle_since + timeout - loop.time()
            if wait <= 0:
                break
            try:
                await asyncio.wait_for(terminated.wait(), wait)
            except TimeoutError:
                continue
            if self.idle_since is None:
                return  # stopping while busy: Hypercorn closes after the response
            break
        await asyncio.shield(self.server._initiate_server_close())


class LeanTCPServer(TCPServer):
    """Hypercorn's connection handler with `KeepAliveWatch` as its idle timer."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.idle_task = KeepAliveWatch(self)

    async def _close(self) -> None:
        try:
            await super()._close()
        finally:
            self.idle_task.cancel()


def use_lean_connections() -> bool:
    """Make Hypercorn's asyncio worker serve connections with `LeanTCPServer`; answer whether it
    does (False: this Hypercorn lacks what `LeanTCPServer` relies on, and keeps its own)."""
    relied_on = ("idle_task", "_close", "_initiate_server_close", "loop", "config", "context")
    probe = TCPServer.__init__.__code__.co_names + tuple(vars(TCPServer))
    if getattr(hypercorn_run, "TCPServer", None) not in (TCPServer, LeanTCPServer) or not all(
        name in probe for name in relied_on
    ):
        log.info("this Hypercorn's connection handler is not the one Forge knows: serving with it unchanged")
        return False
    hypercorn_run.TCPServer = LeanTCPServer
    return True
