"""Two Forge processes, one gateway: PostgreSQL for the catalog, Redis between them (CACHE_TYPE=redis).

What a load balancer without sticky sessions needs: a change made through one process is served by
the other within a second, a Streamable HTTP session opened on one continues on the other, and its
stream on one hears of changes made through the other. Each test has a database of its own and a
Redis prefix of its own, so parallel runs do not meet.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.conftest import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ACCEPT = {"accept": "application/json, text/event-stream"}
HANDSHAKE = "2025-11-25"
WITHIN = 1.0  # seconds a change is given to reach the other process (what the cluster promises)


@pytest.fixture
def pair(start_forge, postgres_url, redis_server):
    """Two gateways on one database and one Redis prefix: what two workers or replicas are."""
    shared = {
        "database_url": postgres_url,
        "cache_type": "redis",
        "redis_url": redis_server,
        "redis_prefix": f"forge-test-{os.urandom(6).hex()}",
    }
    first = start_forge(**shared)
    second = start_forge(**shared)
    return first, second


def rpc(forge, method: str, params: dict | None = None) -> dict:
    answer = httpx.post(forge.url + "/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}, timeout=10)
    return answer.json()


def tool_names(forge) -> list[str]:
    return [tool["name"] for tool in rpc(forge, "tools/list")["result"]["tools"]]


def test_a_tool_added_through_one_is_listed_and_callable_through_the_other(pair, rest_upstream):
    first, second = pair
    assert tool_names(second) == []
    created = httpx.post(first.url + "/tools", json={"name": "echo", "url": rest_upstream + "/echo"}, timeout=10)
    assert created.status_code == 201, created.text

    assert eventually(lambda: tool_names(second) == ["echo"], timeout=WITHIN)
    result = rpc(second, "tools/call", {"name": "echo", "arguments": {"city": "Oslo"}})["result"]
    assert result["isError"] is False and '"city": "Oslo"' in result["content"][0]["text"]

    httpx.post(f"{second.url}/tools/{created.json()['id']}/disable", timeout=10).raise_for_status()
    assert eventually(lambda: tool_names(first) == [], timeout=WITHIN)


def open_session(forge) -> str:
    answer = httpx.post(forge.url + "/mcp", headers=ACCEPT, timeout=10, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
    })
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


def on_session(forge, session_id: str, method: str, params: dict | None = None, id=2) -> httpx.Response:
    headers = {**ACCEPT, "mcp-session-id": session_id, "mcp-protocol-version": HANDSHAKE}
    message = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if id is not None:
        message["id"] = id
    return httpx.post(forge.url + "/mcp", headers=headers, json=message, timeout=10)


def test_a_session_opened_on_one_continues_on_the_other(pair):
    first, second = pair
    session_id = open_session(first)
    assert on_session(second, session_id, "notifications/initialized", id=None).status_code == 202
    assert on_session(second, session_id, "logging/setLevel", {"level": "debug"}).json()["result"] == {}
    assert on_session(second, session_id, "tools/list").json()["result"] == {"tools": []}
    assert on_session(first, session_id, "ping").json()["result"] == {}

    held_by_first = next(session for session in first.gateway.engine.sessions if session.id == session_id)
    assert eventually(lambda: held_by_first.log_level == "debug", timeout=WITHIN)  # set through the second process

    ended = httpx.delete(second.url + "/mcp", headers={"mcp-session-id": session_id}, timeout=10)
    assert ended.status_code == 200
    assert eventually(lambda: on_session(first, session_id, "ping").status_code == 404, timeout=WITHIN)
    assert on_session(second, session_id, "ping").status_code == 404


def test_a_stream_on_one_hears_of_a_change_made_through_the_other(pair, rest_upstream):
    first, second = pair
    session_id = open_session(first)
    on_session(first, session_id, "notifications/initialized", id=None)
    headers = {"accept": "text/event-stream", "mcp-session-id": session_id, "mcp-protocol-version": HANDSHAKE}
    with httpx.stream("GET", second.url + "/mcp", headers=headers, timeout=10) as stream:
        assert stream.status_code == 200
        httpx.post(first.url + "/tools", json={"name": "late", "url": rest_upstream + "/late"}, timeout=10).raise_for_status()
        deadline = time.monotonic() + 5
        for line in stream.iter_lines():
            if "notifications/tools/list_changed" in line or time.monotonic() > deadline:
                break
        assert "notifications/tools/list_changed" in line
