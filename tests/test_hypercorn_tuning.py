"""`forge serve`'s Hypercorn tuning (forge/defaults/hypercorn_tuning.py) keeps Hypercorn's
behaviour: keep-alive, its timeout, closing at shutdown, the Date header."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest
from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.run import worker_serve
from hypercorn.utils import wrap_app

from forge.defaults.hypercorn_tuning import ForgeHypercornConfig, LeanTCPServer, use_lean_connections
from tests.conftest import free_port

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


class App:
    """Answers "ok"; a request to /slow waits until `release` is set."""

    def __init__(self):
        self.release = asyncio.Event()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/slow":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


class Server:
    def __init__(self, keep_alive: float):
        self.app = App()
        self.port = free_port()
        self.config = ForgeHypercornConfig()
        self.config.bind = [f"127.0.0.1:{self.port}"]
        self.config.accesslog = None
        self.config.keep_alive_timeout = keep_alive
        self.config.graceful_timeout = 60  # longer than `stop` waits: a connection left open fails the test
        self.stopping = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def start(self):
        self.task = asyncio.create_task(
            worker_serve(wrap_app(self.app, None, None), self.config, shutdown_trigger=self.stopping.wait)
        )
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("the server did not start")

    async def stop(self):
        self.stopping.set()
        await asyncio.wait_for(self.task, 20)


@pytest.fixture
def lean(monkeypatch):
    monkeypatch.setattr(hypercorn_run, "TCPServer", hypercorn_run.TCPServer)  # restored after the test
    assert use_lean_connections()
    assert hypercorn_run.TCPServer is LeanTCPServer


async def ask(reader, writer, request: bytes = REQUEST) -> bytes:
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    body = await asyncio.wait_for(reader.readexactly(2), 10)
    assert head.startswith(b"HTTP/1.1 200") and body == b"ok", head + body
    return head


async def test_a_connection_serves_requests_until_it_has_been_idle_for_the_keep_alive_timeout(lean):
    server = await Server(keep_alive=1.0).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for _ in range(3):  # 1.2 s in all, never 1 s idle: each answer restarts the deadline
            await ask(reader, writer)
            await asyncio.sleep(0.4)
        await ask(reader, writer)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # then the server closes it
    finally:
        await server.stop()


async def test_stopping_the_server_closes_an_idle_connection_at_once(lean):
    server = await Server(keep_alive=300).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await ask(reader, writer)
    await server.stop()  # would wait for the 300 s keep-alive if the idle connection were left open
    assert await asyncio.wait_for(reader.read(), 10) == b""


async def test_a_busy_connection_finishes_its_answer_when_the_server_stops(lean):
    server = await Server(keep_alive=300).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    answer = asyncio.create_task(ask(reader, writer, b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n"))
    await asyncio.sleep(0.2)
    stopped = asyncio.create_task(server.stop())
    await asyncio.sleep(0.2)
    assert not answer.done()
    server.app.release.set()
    await answer
    await stopped
    assert await asyncio.wait_for(reader.read(), 10) == b""


async def test_a_connection_closed_by_the_client_while_a_request_runs_ends_cleanly(lean):
    server = await Server(keep_alive=300).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        await writer.drain()
        writer.close()
        await asyncio.sleep(0.2)
        server.app.release.set()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        await ask(reader, writer)
    finally:
        await server.stop()


async def test_answers_carry_the_date(lean):
    server = await Server(keep_alive=5).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        head = await ask(reader, writer)
    finally:
        await server.stop()
    dates = [line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n") if line.lower().startswith(b"date:")]
    assert len(dates) == 1
    sent = parsedate_to_datetime(dates[0])
    assert abs((datetime.now(timezone.utc) - sent).total_seconds()) < 120
    assert dates[0].endswith(" GMT")


def test_an_unknown_connection_class_is_left_alone(monkeypatch):
    class SomeoneElses:
        pass

    monkeypatch.setattr(hypercorn_run, "TCPServer", SomeoneElses)
    assert use_lean_connections() is False
    assert hypercorn_run.TCPServer is SomeoneElses
