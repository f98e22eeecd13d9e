"""Stopping Forge: SIGTERM to a real `forge serve` with calls in flight, open streams and a stdio
upstream. Every call in flight is answered, the streams end cleanly instead of being cut, the
process exits, and no process it started (the stdio upstream's group) outlives it.

A stdio upstream killed with SIGKILL while Forge runs is tests/test_transport_stdio.py's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.http_stub import StubHandler, StubServer

UPSTREAM = Path(__file__).parent / "federation_upstream.py"
CALLS = 100
CALL_SECONDS = 1.5
HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
STREAM_HEADERS = {"accept": "application/json, text/event-stream"}


class SlowUpstream:
    """A REST upstream that counts the requests it has received and answers each after a pause."""

    def __init__(self, seconds: float):
        self.arrived = 0
        lock = threading.Lock()
        owner = self

        class Handler(StubHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.read_body()
                with lock:
                    owner.arrived += 1
                time.sleep(seconds)
                self.send_json({"slept": True})

        self.stub = StubServer(Handler)
        self.url = self.stub.url

    def close(self):
        self.stub.close()


def descendants(pid: int) -> set[int]:
    """Every living process below `pid`, found by walking /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


@pytest.fixture
def slow_upstream():
    upstream = SlowUpstream(CALL_SECONDS)
    yield upstream
    upstream.close()


@contextlib.contextmanager
def forge_serve(tmp_path, *options: str, **settings: str):
    """A `forge serve` subprocess (Hypercorn), answered once /health is: (its Popen, its base URL,
    a set the test adds the pids it saw to). Whatever the test did, nothing outlives it."""
    port = free_port()
    env = {
        **os.environ, "AUTH_REQUIRED": "false", "DATABASE_URL": f"sqlite:///{tmp_path / 'forge.db'}",
        "LOG_LEVEL": "WARNING", "SHUTDOWN_GRACE_SECONDS": "30", "FEDERATION_HEALTH_INTERVAL": "600",
        "OUTBOUND_ALLOW": "127.0.0.0/8",  # the upstreams here are on loopback
        "PLUGINS_DISABLED": "admin_ui",  # not needed here
        **settings,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "forge", "serve", "--port", str(port), *options],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while child.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert child.poll() is None, child.stderr.read()
        yield child, url, started
    finally:
        started |= descendants(child.pid)
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for pid in started:  # a failed test leaves nothing behind either
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def served(tmp_path):
    """`forge serve` with one worker."""
    with forge_serve(tmp_path) as served:
        yield served


def rpc(tool: str, arguments: dict, id: int) -> dict:
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


async def open_streams(client: httpx.AsyncClient) -> list:
    """A handshake-era session with its GET stream and a 2026-07-28 subscriptions/listen stream,
    both open and read until they end. Answers the tasks reading them, each answering its lines
    and when it ended."""
    opened = await client.post("/mcp", headers=STREAM_HEADERS, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    })
    assert opened.status_code == 200, opened.text
    session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": HANDSHAKE}
    await client.post("/mcp", headers={**STREAM_HEADERS, **session},
                      json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    listen = {"jsonrpc": "2.0", "id": "listen", "method": "subscriptions/listen",
              "params": {"_meta": MODERN_META, "notifications": {"toolsListChanged": True}}}
    requests = [
        client.build_request("GET", "/mcp", headers={**STREAM_HEADERS, **session}),
        client.build_request("POST", "/mcp", json=listen, headers={
            **STREAM_HEADERS, "mcp-protocol-version": MODERN, "mcp-method": "subscriptions/listen"}),
    ]
    ready = [asyncio.Event() for _ in requests]

    async def read(request, ready):
        response = await client.send(request, stream=True)
        assert response.status_code == 200, await response.aread()
        ready.set()
        lines = [line async for line in response.aiter_lines()]  # raises if the stream is cut
        await response.aclose()
        return lines, time.monotonic()

    readers = [asyncio.create_task(read(request, event)) for request, event in zip(requests, ready, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 30)
    return readers


def test_sigterm_answers_every_call_in_flight_ends_streams_and_leaves_no_process(served, slow_upstream):
    child, url, started = served
    with httpx.Client(base_url=url, timeout=30) as api:
        tool = api.post("/tools", json={"name": "slow", "url": slow_upstream.url + "/slow"})
        assert tool.status_code == 201, tool.text
        gateway = api.post("/gateways", json={
            "name": "beta", "transport": "stdio", "url": f"{sys.executable} {UPSTREAM} stdio --name beta"})
        assert gateway.status_code == 201, gateway.text
        assert gateway.json()["state"] == "healthy", gateway.json()
    started |= descendants(child.pid)
    assert started, "the stdio upstream runs as a child of Forge"

    async def scenario():
        limits = httpx.Limits(max_connections=CALLS + 10, max_keepalive_connections=CALLS + 10)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
            readers = await open_streams(client)

            async def call(number):
                message = rpc("slow", {"n": number}, number) if number % 2 else rpc(
                    "beta.slow", {"seconds": CALL_SECONDS}, number)
                try:
                    return await client.post("/rpc", json=message), time.monotonic()
                except httpx.HTTPError as error:
                    return error, time.monotonic()

            flight = asyncio.gather(*(call(number) for number in range(CALLS)))
            deadline = time.monotonic() + 60
            while slow_upstream.arrived < CALLS // 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert slow_upstream.arrived == CALLS // 2, "every REST call reached the upstream"
            child.send_signal(signal.SIGTERM)
            answers = await flight
            streams = await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 60)
            return answers, streams

    answers, streams = asyncio.run(scenario())
    problems = [answer for answer, _ in answers if not isinstance(answer, httpx.Response)]
    assert problems == [], "every call sent before SIGTERM gets an HTTP answer"
    for number, (answer, _) in enumerate(answers):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["id"] == number
        assert "result" in body and not body["result"]["isError"], body  # the grace period covers them
        expected = '{"slept": true}' if number % 2 else f"slept {CALL_SECONDS}"
        assert body["result"]["content"][0]["text"] == expected
    for stream in streams:
        assert isinstance(stream, tuple), f"the stream ended cleanly, not cut: {stream!r}"
    (_, get_ended), (listen_lines, listen_ended) = streams
    assert any("notifications/subscriptions/acknowledged" in line for line in listen_lines)
    # Streams end when shutdown begins, not when the grace period runs out after the calls.
    last_answer = max(answered for _, answered in answers)
    assert get_ended < last_answer and listen_ended < last_answer

    assert child.wait(90) == 0, child.stderr.read()
    survivors = {pid for pid in started if alive(pid)}
    assert survivors == set(), f"processes Forge started outlive it: {survivors}"
    assert descendants(child.pid) == set()


def test_sigterm_with_nothing_in_flight_stops_at_once_and_ends_the_stdio_group(served):
    child, url, started = served
    with httpx.Client(base_url=url, timeout=30) as api:
        # The upstream's command is a shell that starts the server as its own child: two
        # processes in the group Forge made, the server a grandchild of Forge.
        command = f"sh -c '{sys.executable} {UPSTREAM} stdio --name beta; exit'"
        gateway = api.post("/gateways", json={"name": "beta", "transport": "stdio", "url": command})
        assert gateway.status_code == 201, gateway.text
        assert gateway.json()["state"] == "healthy", gateway.json()
    started |= descendants(child.pid)
    assert len(started) >= 2, started
    child.send_signal(signal.SIGTERM)
    assert child.wait(60) == 0, child.stderr.read()
    assert {pid for pid in started if alive(pid)} == set()


def test_sigterm_to_several_workers_drains_each_of_them(tmp_path, slow_upstream):
    """`forge serve --workers 2` (CACHE_TYPE=redis, a Redis of the test's own): each worker hears
    of SIGTERM at once, so a stream ends while a call in flight is still answered."""
    from tests.test_faults import RedisServer

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = RedisServer(tmp_path).start()
    try:
        with forge_serve(tmp_path, "--workers", "2", CACHE_TYPE="redis", REDIS_URL=redis.url) as (child, url, started):
            created = httpx.post(url + "/tools", json={"name": "slow", "url": slow_upstream.url + "/slow"}, timeout=30)
            assert created.status_code == 201, created.text
            started |= descendants(child.pid)
            assert len(started) >= 2, started  # the workers

            async def scenario():
                async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                    # The tool reaches the other worker through Redis; each call lands on either.
                    deadline = time.monotonic() + 30
                    while "slow" not in str((await client.post("/rpc", json={
                            "jsonrpc": "2.0", "id": 0, "method": "tools/list"})).json()) and time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                    readers = await open_streams(client)

                    async def one_call():
                        answer = await client.post("/rpc", json=rpc("slow", {}, 1))
                        return answer, time.monotonic()

                    flight = asyncio.ensure_future(one_call())
                    arrived = slow_upstream.arrived
                    deadline = time.monotonic() + 30
                    while slow_upstream.arrived == arrived and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    child.send_signal(signal.SIGTERM)
                    answer = await flight
                    streams = await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 60)
                    return answer, streams

            (answer, answered), streams = asyncio.run(scenario())
            assert answer.json()["result"]["content"][0]["text"] == '{"slept": true}'
            for stream in streams:
                assert isinstance(stream, tuple), f"the stream ended cleanly, not cut: {stream!r}"
                assert stream[1] < answered  # when shutdown began, not after the grace period
            assert child.wait(90) == 0, child.stderr.read()
            # multiprocessing's resource tracker leaves when its pipe from the parent closes: soon.
            deadline = time.monotonic() + 15
            while {pid for pid in started if alive(pid)} and time.monotonic() < deadline:
                time.sleep(0.1)
            assert {pid: command_of(pid) for pid in started if alive(pid)} == {}
    finally:
        redis.stop()
