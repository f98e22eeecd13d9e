"""Faults, injected on command: upstreams that refuse connections, reset mid-answer, answer garbage
or a huge body, or trickle bytes (slow loris); a database and a Redis that go away and come back.
For each, the client gets a clear MCP error, the gateway keeps serving other calls, nothing stored
is lost, and Forge recovers when the fault ends.

Faults come from `FaultProxy`, a loopback proxy in front of a healthy server whose behaviour the
test switches. A stdio upstream killed with SIGKILL is tests/test_transport_stdio.py's, and
SIGTERM during calls is tests/test_lifecycle.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time

import httpx
import pytest

from tests.conftest import free_port
from tests.test_federation import UpstreamProcess, eventually

pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")

CAP = 2**20  # UPSTREAM_MAX_RESPONSE_BYTES in these tests
FAULTS = ("refuse", "reset", "garbage", "huge", "trickle")


class FaultProxy:
    """A loopback proxy in its own thread. `mode` decides what each new connection meets:

    - "pass": forwarded to the target; over HTTP each request gets a connection of its own
      (`Connection: close`), so a mode change reaches the very next request;
    - "refuse": nothing listens on the port (connections are refused);
    - "reset": half an HTTP answer, then a TCP reset;
    - "garbage": a complete HTTP 200 answer whose JSON body is not JSON;
    - "huge": a JSON answer of unannounced length far past CAP (chunked);
    - "declared": an answer whose Content-Length is past CAP (its body never comes);
    - "trickle": an HTTP answer announcing 1000 bytes and sending one every 0.2 s.

    With `http=False` it relays raw bytes (a database), and `refuse` also cuts open connections.
    """

    def __init__(self, target_port: int, *, http: bool = True):
        self.target_port = target_port
        self.http = http
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = "pass"
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.set("pass")

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def set(self, mode: str) -> None:
        self._run(self._set(mode))

    async def _set(self, mode: str) -> None:
        self.mode = mode
        if mode == "refuse":
            if self.server is not None:
                self.server.close()
                self.server = None
            if not self.http:
                for writer in list(self.open):
                    writer.transport.abort()
        elif self.server is None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def close(self) -> None:
        self.set("refuse")
        for writer in list(self.open):
            self.loop.call_soon_threadsafe(writer.transport.abort)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open.add(writer)
        try:
            if not self.http:
                await self._relay(reader, writer, b"")
                return
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")), 0
            )
            body = await reader.readexactly(length)
            if self.mode == "pass":
                kept = [line for line in lines[1:] if line and not line.lower().startswith(b"connection:")]
                request = b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""]) + body
                await self._relay(reader, writer, request)
            else:
                await getattr(self, f"_{self.mode}")(writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.open.discard(writer)
            writer.transport.abort()

    async def _relay(self, reader, writer, first: bytes) -> None:
        target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.open.add(target_writer)
        target_writer.write(first)

        async def pipe(source, sink):
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.write_eof() if sink.can_write_eof() else None

        try:
            await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer))
        finally:
            self.open.discard(target_writer)
            target_writer.transport.abort()

    async def _reset(self, writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"partial\": ")
        await writer.drain()
        await asyncio.sleep(0.1)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST

    async def _garbage(self, writer) -> None:
        body = b"<html>this is { not json"
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n"
        writer.write(head % len(body) + body)
        await writer.drain()
        await asyncio.sleep(0.5)

    async def _huge(self, writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(8 * CAP // len(chunk)):  # 8 times the cap, unless the client hangs up first
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _declared(self, writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % (CAP + 1))
        await writer.drain()
        await asyncio.sleep(1)  # the body never comes: its announced length is refused first

    async def _trickle(self, writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n")
        for _ in range(1000):
            await asyncio.sleep(0.2)
            writer.write(b" ")
            await writer.drain()


@pytest.fixture
def proxies():
    made: list[FaultProxy] = []

    def make(target_port: int, **options) -> FaultProxy:
        made.append(FaultProxy(target_port, **options))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


def rpc(forge, method: str, params: dict | None = None, timeout: float = 60) -> dict:
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    return httpx.post(forge.url + "/rpc", json=message, timeout=timeout).json()


def call(forge, name: str, arguments: dict | None = None) -> dict:
    """A tools/call's result, or its JSON-RPC error as {"error": ...}."""
    answer = rpc(forge, "tools/call", {"name": name, "arguments": arguments or {}})
    return answer.get("result") or {"error": answer["error"]}


def failure_text(result: dict) -> str:
    """What the client is told of a failed call (an isError result or a JSON-RPC error)."""
    if "error" in result:
        return result["error"]["message"]
    assert result["isError"] is True, result
    return result["content"][0]["text"]


def stored(forge) -> list[dict]:
    return httpx.get(forge.url + "/tools", params={"limit": 500}, timeout=30).json()["items"]


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


# --- REST tools ----------------------------------------------------------------------------------

REST_FAULTS = {
    "refuse": "the upstream request failed",
    "reset": "the upstream request failed",
    "garbage": "JSON answer could not be parsed",
    "huge": f"larger than {CAP} bytes (UPSTREAM_MAX_RESPONSE_BYTES)",
    "declared": f"larger than {CAP} bytes (UPSTREAM_MAX_RESPONSE_BYTES)",
    "trickle": "did not answer within 2s",
}


def test_a_misbehaving_rest_upstream_yields_clear_errors_and_nothing_else_suffers(start_forge, rest_upstream, proxies):
    forge = start_forge(upstream_max_response_bytes=CAP)
    proxy = proxies(port_of(rest_upstream))
    api = httpx.Client(base_url=forge.url, timeout=30)
    faulty = api.post("/tools", json={
        "name": "faulty", "url": proxy.url + "/echo", "timeout": 2,
        "output_schema": {"type": "object"},  # so an answer that is not JSON is an error
    })
    assert faulty.status_code == 201, faulty.text
    assert api.post("/tools", json={"name": "healthy", "url": rest_upstream + "/echo"}).status_code == 201
    before = stored(forge)
    assert call(forge, "faulty", {"n": 1})["isError"] is False

    for fault, told in REST_FAULTS.items():
        proxy.set(fault)
        # The faulty call and a healthy one at the same time: the fault holds nothing else up.
        answers = {}
        threads = [
            threading.Thread(target=lambda name=name: answers.__setitem__(name, call(forge, name, {"n": 2})))
            for name in ("faulty", "healthy")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert told in failure_text(answers["faulty"]), (fault, answers["faulty"])
        assert answers["healthy"]["isError"] is False, (fault, answers["healthy"])
        proxy.set("pass")
        recovered = call(forge, "faulty", {"n": 3})
        assert recovered["isError"] is False, (fault, recovered)  # back as soon as the upstream is
    assert stored(forge) == before


# --- a federated MCP upstream --------------------------------------------------------------------


def test_a_misbehaving_mcp_upstream_yields_clear_errors_and_its_circuit_opens_and_closes(
    start_forge, rest_upstream, proxies, monkeypatch
):
    monkeypatch.setenv("FEDERATION_BREAKER_THRESHOLD", "3")
    monkeypatch.setenv("FEDERATION_BREAKER_RESET", "1")
    monkeypatch.setenv("FEDERATION_HEALTH_INTERVAL", "600")  # only calls meet the faults
    upstream = UpstreamProcess("alpha").start()
    try:
        forge = start_forge(federation_timeout=3)
        proxy = proxies(upstream.port)
        api = httpx.Client(base_url=forge.url, timeout=60)
        gateway = api.post("/gateways", json={"name": "alpha", "url": proxy.url + "/mcp"})
        assert gateway.status_code == 201, gateway.text
        assert gateway.json()["state"] == "healthy", gateway.json()
        assert api.post("/tools", json={"name": "healthy", "url": rest_upstream + "/echo"}).status_code == 201
        before = stored(forge)
        assert "alpha.echo" in [tool["name"] for tool in before]
        assert call(forge, "alpha.echo", {"text": "hi"})["content"][0]["text"] == "alpha: hi"

        for fault in ("reset", "garbage", "huge", "trickle"):
            proxy.set(fault)
            told = failure_text(call(forge, "alpha.echo", {"text": "hi"}))
            assert "alpha" in told or "upstream" in told, (fault, told)
            assert call(forge, "healthy", {"n": 1})["isError"] is False  # the gateway serves on
            proxy.set("pass")
            assert call(forge, "alpha.echo", {"text": "again"})["content"][0]["text"] == "alpha: again", fault

        # Three failures in a row open the circuit: calls fail at once, saying why.
        proxy.set("refuse")
        for _ in range(3):
            assert "unreachable" in failure_text(call(forge, "alpha.echo", {"text": "hi"}))
        assert "is not being called" in failure_text(call(forge, "alpha.echo", {"text": "hi"}))
        assert call(forge, "healthy", {"n": 1})["isError"] is False
        # Back: once the circuit lets a call try again, it closes.
        proxy.set("pass")
        eventually(lambda: call(forge, "alpha.echo", {"text": "back"}).get("content", [{}])[0].get("text") == "alpha: back")
        assert call(forge, "alpha.echo", {"text": "closed"})["content"][0]["text"] == "alpha: closed"
        assert stored(forge) == before
    finally:
        upstream.stop()


# --- the database --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_with_the_database_unreachable_ready_is_503_and_mcp_calls_go_on(start_forge, postgres_url, rest_upstream, proxies):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    proxy = proxies(url.port or 5432, http=False)
    forge = start_forge(database_url=url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    api = httpx.Client(base_url=forge.url, timeout=60)
    assert api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).status_code == 201
    assert api.get("/ready").json() == {"status": "ready", "database": "ok", "redis": "not used"}

    proxy.set("refuse")  # the database is gone: new connections refused, open ones cut
    unready = api.get("/ready")
    assert (unready.status_code, unready.json()) == (
        503, {"status": "unavailable", "database": "unreachable", "redis": "not used"}
    )
    assert api.get("/health").status_code == 200
    assert [tool["name"] for tool in rpc(forge, "tools/list")["result"]["tools"]] == ["echo"]
    assert call(forge, "echo", {"n": 1})["isError"] is False  # from the in-memory catalog
    refused = api.post("/tools", json={"name": "later", "url": rest_upstream + "/echo"})
    assert refused.status_code >= 500 and "error" in refused.json()  # a write needs the database

    proxy.set("pass")
    eventually(lambda: api.get("/ready").status_code == 200, timeout=30)
    assert api.post("/tools", json={"name": "later", "url": rest_upstream + "/echo"}).status_code == 201
    assert sorted(tool["name"] for tool in stored(forge)) == ["echo", "later"]


# --- Redis ---------------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own on a free port (never the machine's shared one)."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = tmp_path
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    pytest.importorskip("redis")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_with_redis_gone_forge_serves_from_local_state_and_recovers(start_forge, tmp_path, own_redis, rest_upstream, caplog):
    caplog.set_level(logging.WARNING)
    shared = {"cache_type": "redis", "redis_url": own_redis.url, "redis_prefix": f"faults-{os.urandom(4).hex()}",
              "database_url": f"sqlite:///{tmp_path / 'shared.db'}"}
    first, second = start_forge(**shared), start_forge(**shared)  # two processes of one gateway
    api = httpx.Client(base_url=first.url, timeout=60)
    assert api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).status_code == 201
    assert api.post("/resources", json={"uri": "mem://note", "name": "note", "content": "hello"}).status_code == 201
    eventually(lambda: call(second, "echo", {"n": 0}).get("isError") is False)

    own_redis.stop()
    unready = api.get("/ready")
    # Still ready (every process can serve alone): a 503 would empty the load balancer.
    assert (unready.status_code, unready.json()) == (200, {"status": "degraded", "database": "ok", "redis": "unreachable"})
    for forge in (first, second):
        assert call(forge, "echo", {"n": 1})["isError"] is False
        read = rpc(forge, "resources/read", {"uri": "mem://note"})
        assert read["result"]["contents"][0]["text"] == "hello", read  # the cache falls back to memory
    # A handshake-era session opens and works with its state kept in this process.
    opened = httpx.post(first.url + "/mcp", headers={"accept": "application/json, text/event-stream"}, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
        timeout=60)
    assert opened.status_code == 200 and "result" in opened.json(), opened.text
    assert api.post("/tools", json={"name": "written_alone", "url": rest_upstream + "/echo"}).status_code == 201
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert any("Redis subscription lost" in message for message in warnings), warnings

    own_redis.start()  # the same port: Forge finds it again
    eventually(lambda: api.get("/ready").json()["status"] == "ready", timeout=30)
    # The channel is back both ways: a change made on one process reaches the other.
    eventually(lambda: httpx.get(second.url + "/ready", timeout=30).json()["status"] == "ready", timeout=30)
    assert api.post("/tools", json={"name": "after", "url": rest_upstream + "/echo"}).status_code == 201
    eventually(lambda: call(second, "after", {"n": 1}).get("isError") is False, timeout=30)
    # What the second process missed while Redis was gone arrived with its reload.
    assert call(second, "written_alone", {"n": 1})["isError"] is False
