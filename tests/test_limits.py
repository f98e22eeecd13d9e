"""The limits plugin: rate limits per principal and per tool, a cap on calls in flight per upstream,
and JSON depth and string limits on every entrance.

Limits are set in the environment (the plugin's settings are read from it, like the kernel's),
each test with its own; counters start empty with each gateway (memory), or under a Redis prefix
of the test's own (the Redis tier).
"""

from __future__ import annotations

import json
import os
import threading

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from forge.app import create_app
from forge.settings import SettingsError
from forge_plugins.limits import RATE_LIMITED, bulkhead_of
from tests.conftest import forge_settings
from tests.http_stub import StubHandler, StubServer

ACCEPT = {"accept": "application/json, text/event-stream"}


def rpc(forge, method: str, params: dict | None = None, *, path: str = "/rpc") -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    return httpx.post(forge.url + path, json=message, headers=ACCEPT, timeout=30)


def open_session(forge) -> dict:
    """A handshake-era session on /mcp, initialized: the headers its requests carry."""
    answer = rpc(
        forge,
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "by-hand", "version": "1"}},
        path="/mcp",
    )
    assert answer.status_code == 200, answer.text
    headers = {**ACCEPT, "mcp-session-id": answer.headers["mcp-session-id"]}
    httpx.post(forge.url + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def call_on(forge, headers: dict, name: str, arguments: dict | None = None, request_id: int = 2) -> dict:
    message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}
    answer = httpx.post(forge.url + "/mcp", json=message, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def add_tool(forge, name: str, url: str) -> dict:
    created = httpx.post(forge.url + "/tools", json={"name": name, "url": url}, timeout=30)
    assert created.status_code == 201, created.text
    return created.json()


# --- rate limits --------------------------------------------------------------------------------


def test_the_call_past_a_tools_limit_gets_the_rate_limit_error_with_a_retry_hint(start_forge, rest_upstream, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_TOOL", "2/minute")
    monkeypatch.setenv("RATE_LIMIT_TOOLS", '{"unlimited": ""}')
    forge = start_forge()
    add_tool(forge, "echo", rest_upstream + "/echo")
    add_tool(forge, "unlimited", rest_upstream + "/echo")
    session = open_session(forge)

    for attempt in range(2):
        assert call_on(forge, session, "echo", {"n": attempt})["result"]["isError"] is False
    refused = call_on(forge, session, "echo", {"n": 3}, request_id=7)

    assert refused["id"] == 7 and "result" not in refused
    error = refused["error"]
    assert error["code"] == RATE_LIMITED == -32010
    assert "echo" in error["message"]
    assert 1 <= error["data"]["retryAfter"] <= 60
    # Another tool has its own count, and this one is exempt.
    for _ in range(3):
        assert call_on(forge, session, "unlimited")["result"]["isError"] is False


def test_the_request_past_a_principals_limit_gets_429_and_retry_after_on_rpc_and_the_api(start_forge, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_PRINCIPAL", "3/minute")
    forge = start_forge()

    for _ in range(2):
        assert rpc(forge, "ping").json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert httpx.get(forge.url + "/tools").status_code == 200  # MCP and the API spend one budget
    refused = rpc(forge, "ping")

    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 60
    assert refused.json()["error"]["code"] == RATE_LIMITED
    assert refused.json()["error"]["data"] == {"retryAfter": wait}

    api = httpx.get(forge.url + "/tools")
    assert api.status_code == 429
    assert 1 <= int(api.headers["retry-after"]) <= 60
    assert api.json()["error"]["code"] == "rate_limited"
    assert "anonymous" in api.json()["error"]["message"]
    assert httpx.get(forge.url + "/health").status_code == 200  # probes are never counted


def test_each_principal_has_a_budget_of_its_own(start_forge, monkeypatch):
    from forge_plugins.auth_basic_jwt import create_token

    monkeypatch.setenv("RATE_LIMIT_PER_PRINCIPAL", "2/minute")
    forge = start_forge(auth_required=True, jwt_secret_key="a-test-key-long-enough-for-hs256-signing")

    def ping(user: str) -> httpx.Response:
        token = create_token(user, secret=forge.settings.jwt_secret_key)
        message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        return httpx.post(forge.url + "/rpc", json=message, headers={"authorization": f"Bearer {token}"}, timeout=30)

    assert [ping("alice").status_code for _ in range(3)] == [200, 200, 429]
    assert [ping("bob").status_code for _ in range(3)] == [200, 200, 429]


def test_a_limit_that_is_not_one_stops_start_up_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_PRINCIPAL", "many per minute")
    with pytest.raises(SettingsError, match="RATE_LIMIT_PER_PRINCIPAL.*'many per minute' is not a rate limit"):
        create_app(forge_settings(tmp_path))


@pytest.mark.redis
def test_two_gateways_on_one_redis_count_together(start_forge, redis_server, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_PRINCIPAL", "4/minute")
    shared = {"cache_type": "redis", "redis_url": redis_server, "redis_prefix": f"forge-test-{os.urandom(6).hex()}"}
    first, second = start_forge(**shared), start_forge(**shared)

    assert [rpc(first, "ping").status_code for _ in range(2)] == [200, 200]
    assert [rpc(second, "ping").status_code for _ in range(2)] == [200, 200]
    assert rpc(first, "ping").status_code == 429
    assert rpc(second, "ping").status_code == 429

    # Counted in Redis under the gateway's prefix, not in either process.
    keys = redis.Redis.from_url(redis_server).keys(shared["redis_prefix"] + ":limits*")
    assert keys


def test_without_its_redis_each_process_counts_alone_and_says_so(start_forge, monkeypatch, caplog):
    from tests.conftest import free_port

    monkeypatch.setenv("RATE_LIMIT_PER_PRINCIPAL", "2/minute")
    monkeypatch.setenv("RATE_LIMIT_STORAGE_URL", f"redis://127.0.0.1:{free_port()}/0")  # nobody listens
    forge = start_forge()

    assert [rpc(forge, "ping").status_code for _ in range(3)] == [200, 200, 429]
    warnings = [r.getMessage() for r in caplog.records if r.name == "forge.limits"]
    assert len(warnings) == 1 and "counting in this process only" in warnings[0]


# --- the bulkhead ---------------------------------------------------------------------------------


class GatedUpstream:
    """A REST upstream whose answers wait until the test opens the gate."""

    def __init__(self):
        self.gate = threading.Event()
        gate = self.gate

        class Handler(StubHandler):
            def do_POST(self):
                self.read_body()
                gate.wait(30)
                self.send_json({"ok": True})

        self.stub = StubServer(Handler)
        self.url = self.stub.url

    def close(self):
        self.gate.set()
        self.stub.close()


@pytest.fixture
def gated_upstream():
    upstream = GatedUpstream()
    yield upstream
    upstream.close()


def test_a_busy_upstream_refuses_calls_past_its_cap_with_a_clear_error(gated_upstream, start_forge, monkeypatch):
    monkeypatch.setenv("UPSTREAM_MAX_CONCURRENT", "1")
    monkeypatch.setenv("UPSTREAM_QUEUE_SECONDS", "0.2")
    forge = start_forge()
    add_tool(forge, "slow", gated_upstream.url + "/work")
    bulkhead = bulkhead_of(forge.gateway)
    first: list[dict] = []
    caller = threading.Thread(target=lambda: first.append(rpc(forge, "tools/call", {"name": "slow"}).json()))
    caller.start()
    for _ in range(600):  # until the first call holds the upstream's only slot
        if forge.run(_in_flight(bulkhead, gated_upstream.url)) == 1:
            break
        threading.Event().wait(0.05)

    refused = rpc(forge, "tools/call", {"name": "slow"}).json()["result"]

    assert refused["isError"] is True
    text = refused["content"][0]["text"]
    assert f"upstream {gated_upstream.url} is busy" in text and "UPSTREAM_MAX_CONCURRENT" in text
    gated_upstream.gate.set()
    caller.join(30)
    assert first[0]["result"]["isError"] is False
    assert rpc(forge, "tools/call", {"name": "slow"}).json()["result"]["isError"] is False  # the slot is free again


def test_a_call_queued_at_a_busy_upstream_runs_when_a_slot_frees_up(gated_upstream, start_forge, monkeypatch):
    monkeypatch.setenv("UPSTREAM_MAX_CONCURRENT", "1")
    monkeypatch.setenv("UPSTREAM_QUEUE_SECONDS", "30")
    forge = start_forge()
    add_tool(forge, "slow", gated_upstream.url + "/work")
    bulkhead = bulkhead_of(forge.gateway)
    answers: list[dict] = []
    callers = [
        threading.Thread(target=lambda: answers.append(rpc(forge, "tools/call", {"name": "slow"}).json()))
        for _ in range(2)
    ]
    for caller in callers:
        caller.start()
    for _ in range(600):  # until one call holds the only slot and the other waits for it
        if forge.run(_counts(bulkhead, gated_upstream.url)) == (1, 1):
            break
        threading.Event().wait(0.05)
    assert forge.run(_counts(bulkhead, gated_upstream.url)) == (1, 1)

    gated_upstream.gate.set()
    for caller in callers:
        caller.join(30)
    assert [answer["result"]["isError"] for answer in answers] == [False, False]
    assert forge.run(_counts(bulkhead, gated_upstream.url)) == (0, 0)


async def _in_flight(bulkhead, upstream: str) -> int:
    return bulkhead.in_flight[upstream]


async def _counts(bulkhead, upstream: str) -> tuple[int, int]:
    return bulkhead.in_flight[upstream], bulkhead.waiting[upstream]


# --- JSON depth and string limits -----------------------------------------------------------------


def nested(depth: int):
    value: object = "bottom"
    for _ in range(depth):
        value = {"down": value}
    return value


def test_json_past_the_depth_limit_is_refused_on_mcp_rpc_and_the_api(start_forge, rest_upstream, monkeypatch):
    monkeypatch.setenv("MAX_JSON_DEPTH", "10")
    forge = start_forge()
    add_tool(forge, "echo", rest_upstream + "/echo")
    # The message itself is 3 levels (message, params, arguments) before the arguments' own.
    fits = rpc(forge, "tools/call", {"name": "echo", "arguments": {"x": nested(6)}}).json()
    assert fits["result"]["isError"] is False

    too_deep = rpc(forge, "tools/call", {"name": "echo", "arguments": {"x": nested(8)}}).json()
    assert too_deep["error"]["code"] == -32600
    assert "deeper than 10 levels (MAX_JSON_DEPTH)" in too_deep["error"]["message"]
    session = open_session(forge)
    message = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"x": nested(8)}}}
    on_mcp = httpx.post(forge.url + "/mcp", json=message, headers=session)
    assert on_mcp.status_code == 400  # as /mcp answers every invalid request in a session
    assert on_mcp.json()["error"]["code"] == -32600 and "MAX_JSON_DEPTH" in on_mcp.json()["error"]["message"]

    api = httpx.post(forge.url + "/tools", json={"name": "deep", "url": rest_upstream, "annotations": nested(12)})
    assert api.status_code == 400
    assert api.json()["error"]["code"] == "json_limits" and "MAX_JSON_DEPTH" in api.json()["error"]["message"]
    hopeless = httpx.post(forge.url + "/tools", content=b"[" * 5000 + b"]" * 5000, headers={"content-type": "application/json"})
    assert hopeless.status_code == 400 and "nests" in hopeless.json()["error"]["message"]  # never a 500


async def test_a_string_past_the_limit_is_refused_on_websocket_frames_too(start_forge, monkeypatch):
    monkeypatch.setenv("MAX_STRING_CHARS", "100")
    forge = start_forge()
    async with connect(forge.url.replace("http://", "ws://") + "/ws", subprotocols=["mcp"]) as socket:
        initialize = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "x" * 101, "version": "1"},
        }
        await socket.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize}))
        answer = json.loads(await socket.recv())
    assert answer["id"] == 1
    assert answer["error"]["code"] == -32600
    assert "longer than 100 characters (MAX_STRING_CHARS)" in answer["error"]["message"]
