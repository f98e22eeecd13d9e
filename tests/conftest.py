"""Shared test fixtures: real Forge gateways on real sockets.

`forge` starts a gateway (Hypercorn, a free loopback port, SQLite in the test's temp folder,
memory cache, AUTH_REQUIRED=false) in a thread of its own and stops it after the test.
`start_forge(**settings)` starts more, with other settings or extra plugins.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypercorn.asyncio import serve

from forge.app import create_app
from forge.defaults.hypercorn_tuning import ForgeHypercornConfig, use_lean_connections
from forge.settings import Settings

# Served as `forge serve` serves: Hypercorn with Forge's connection handling (every test's server).
use_lean_connections()

# Tests never read the developer's .env or environment for Forge's settings.
for _name in Settings.model_fields:
    os.environ.pop(_name.upper(), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def eventually(check, timeout: float = 20.0, interval: float = 0.05):
    """Poll `check()` until it answers something true, for at most `timeout` seconds (a bound on
    waiting, not a measure of speed); fail naming its last answer, else answer it."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            assert answer, f"not true within {timeout} s: {answer!r}"
            return answer
        time.sleep(interval)


class AsgiServerThread:
    """An ASGI app served by Hypercorn (tuned as `forge serve` tunes it) on its own event loop, in
    a background thread, on a loopback port; `start` returns once GET `ready_path` answers 200 and
    `ready()` holds."""

    what = "the server"
    ready_path = "/"

    def __init__(self, app, port: int | None = None):
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._failure: BaseException | None = None

    def ready(self) -> bool:
        return True

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._stopping = asyncio.Event()
        config = ForgeHypercornConfig()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 2

        async def main():
            try:
                await serve(self.app, config, shutdown_trigger=self._stopping.wait)
            except BaseException as failure:  # reported to the test thread by start()
                self._failure = failure

        self._loop.run_until_complete(main())

    def start(self):
        self._thread.start()
        for _ in range(200):
            if self._failure is not None:
                raise RuntimeError(f"{self.what} failed to start: {self._failure!r}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200 and self.ready():
                    return self
            except httpx.HTTPError:
                pass
            threading.Event().wait(0.05)
        raise RuntimeError(f"{self.what} did not start within 10 s")

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(15)

    def run(self, coroutine, timeout: float = 30):
        """Run a coroutine on the server's own loop (to touch its state safely)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)


class ForgeServer(AsgiServerThread):
    """A gateway served by Hypercorn on its own event loop, in a background thread."""

    what = "Forge"
    ready_path = "/health"

    def __init__(self, settings: Settings, plugins=()):
        super().__init__(create_app(settings, plugins=plugins), settings.port)
        self.settings = settings
        self.gateway = self.app.gateway

    def ready(self) -> bool:
        return self.gateway.started


def forge_settings(tmp_path: Path, **overrides) -> Settings:
    values = {
        "database_url": f"sqlite:///{tmp_path / 'forge.db'}",
        "port": free_port(),
        "auth_required": False,
        "cache_type": "memory",
        # Tests' upstreams listen on loopback, which Forge refuses to call unless admitted.
        "outbound_allow": ["127.0.0.0/8", "::1"],
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def start_forge(tmp_path) -> Iterator:
    started: list[ForgeServer] = []

    def start(plugins=(), **overrides) -> ForgeServer:
        server = ForgeServer(forge_settings(tmp_path, **overrides), plugins=plugins).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def forge(start_forge) -> ForgeServer:
    return start_forge()


class EchoHandler(BaseHTTPRequestHandler):
    """A REST upstream for tests: answers what it received, or the status a path names."""

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        if url.path.startswith("/status/"):
            code = int(url.path.split("/")[2])
            self._send(code, {"error": f"status {code}"})
            return
        if url.path.startswith("/slow/"):
            time.sleep(float(url.path.split("/")[2]))
        if url.path == "/text":
            self._send(200, None, b"plain words", "text/plain")
            return
        self._send(200, {
            "method": self.command,
            "path": url.path,
            "query": dict(parse_qsl(url.query)),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "json": json.loads(body) if body else None,
        })

    def _send(self, code, payload, raw=None, content_type="application/json"):
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def rest_upstream() -> Iterator[str]:
    """Base URL of a loopback REST echo server (see `EchoHandler`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def api(forge) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=forge.url, timeout=30) as client:
        yield client


# What a Streamable HTTP client accepts and sends.
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture
def wire(forge) -> Iterator[httpx.Client]:
    """An HTTP client of `forge` speaking Streamable HTTP's content types (tests/test_mcp_wire.py)."""
    with httpx.Client(base_url=forge.url, headers=ACCEPT, timeout=10) as client:
        yield client


# --- PostgreSQL: tests marked `postgres` get a fresh database of their own ------------------------

POSTGRES_URL = os.environ.get("FORGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def _postgres_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """FORGE_TEST_POSTGRES_URL, once it answers; every test using it is skipped when it does not."""
    try:
        asyncio.run(_postgres_admin("SELECT 1"))
    except Exception as error:  # refused, timed out, no such role or database: all mean "not here"
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {type(error).__name__}: {error}")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    """DATABASE_URL of a new, empty PostgreSQL database with a random name, dropped after the test."""
    from sqlalchemy.engine import make_url

    name = f"forge_test_{os.urandom(6).hex()}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    """DATABASE_URL of an empty database: the test runs once on SQLite, once on PostgreSQL."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'forge.db'}"


# --- Redis: tests marked `redis` use the machine's server, skipped when it is unreachable ---------

REDIS_URL = os.environ.get("FORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_server() -> str:
    """REDIS_URL of a reachable Redis (FORGE_TEST_REDIS_URL); the test is skipped without one."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {error}")
    return REDIS_URL


@pytest.fixture
def cluster_settings(tmp_path, redis_server) -> dict:
    """The settings two processes of one gateway share: a database, a Redis and a prefix of their own."""
    return {
        "database_url": f"sqlite:///{tmp_path / 'shared.db'}",
        "cache_type": "redis",
        "redis_url": redis_server,
        "redis_prefix": f"forge-test-{os.urandom(6).hex()}",
    }
