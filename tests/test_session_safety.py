"""Session and token safety: a session id is unguessable and belongs to the principal that opened
it, on every transport; a browser Origin is checked on every HTTP endpoint; and the client's own
credentials never travel on to an upstream (Forge sends the ones stored for that upstream).

The upstreams here record the headers they receive, and listen on loopback only.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from forge_plugins.auth_basic_jwt import create_token
from forge_plugins.federation.wire import MODERN
from tests.http_stub import StubHandler, StubServer

SECRET = "session-safety-secret-of-32-bytes-or-more"
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
PING = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
EVIL = {"origin": "https://evil.example"}


def bearer(user: str, scopes: list[str] | None = None) -> dict:
    return {"authorization": f"Bearer {create_token(user, SECRET, scopes=scopes)}"}


ALICE, MALLORY, ADMIN = bearer("alice", ["read"]), bearer("mallory", ["read"]), bearer("admin")


@pytest.fixture
def guarded(start_forge):
    return start_forge(auth_required=True, jwt_secret_key=SECRET, allowed_origins=["https://app.example"])


def open_session(forge, who: dict) -> str:
    answer = httpx.post(forge.url + "/mcp", headers={**ACCEPT, **who}, json=INITIALIZE)
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


def test_session_ids_are_long_random_and_never_repeat(guarded):
    ids = [open_session(guarded, ALICE) for _ in range(16)]
    assert len(set(ids)) == len(ids)
    for session_id in ids:
        assert re.fullmatch(r"[0-9a-f]{32,}", session_id), session_id  # 128 bits or more, from `secrets`
    # No two share a prefix a guesser could walk from (a counter or a clock would).
    assert len({session_id[:8] for session_id in ids}) == len(ids)


def test_another_principals_session_id_is_not_found_on_every_method(guarded):
    session = {"mcp-session-id": open_session(guarded, ALICE)}
    with httpx.Client(base_url=guarded.url, timeout=10) as client:
        stolen_post = client.post("/mcp", headers={**ACCEPT, **MALLORY, **session}, json=PING)
        stolen_stream = client.get("/mcp", headers={"accept": "text/event-stream", **MALLORY, **session})
        stolen_delete = client.delete("/mcp", headers={**MALLORY, **session})
        assert (stolen_post.status_code, stolen_stream.status_code, stolen_delete.status_code) == (404, 404, 404)
        assert stolen_post.json()["error"]["message"] == "Session not found"
        # The owner's session is untouched by the attempts.
        owned = client.post("/mcp", headers={**ACCEPT, **ALICE, **session}, json=PING)
        assert owned.status_code == 200 and owned.json()["result"] == {}


async def test_an_sse_session_belongs_to_its_principal(guarded):
    async with httpx.AsyncClient(base_url=guarded.url, timeout=10) as client:
        async with client.stream("GET", "/sse", headers={"accept": "text/event-stream", **ALICE}) as stream:
            endpoint, lines = None, stream.aiter_lines()  # held: a dropped reader would close the stream
            async for line in lines:
                if line.startswith("data:"):
                    endpoint = line.removeprefix("data:").strip()
                    break
            assert re.search(r"session_id=[0-9a-f]{32,}$", endpoint), endpoint
            stolen = await client.post(endpoint, headers={**MALLORY, "content-type": "application/json"}, json=PING)
            assert stolen.status_code == 404
            owned = await client.post(endpoint, headers={**ALICE, "content-type": "application/json"}, json=PING)
            assert owned.status_code == 202, owned.text


def test_every_http_endpoint_checks_the_origin(guarded):
    session = {"mcp-session-id": open_session(guarded, ALICE)}
    with httpx.Client(base_url=guarded.url, timeout=10) as client:
        refused = {
            "POST /mcp": client.post("/mcp", headers={**ACCEPT, **ALICE, **EVIL}, json=INITIALIZE),
            "GET /mcp": client.get("/mcp", headers={"accept": "text/event-stream", **ALICE, **session, **EVIL}),
            "DELETE /mcp": client.delete("/mcp", headers={**ALICE, **session, **EVIL}),
            "POST /rpc": client.post("/rpc", headers={**ALICE, **EVIL}, json=PING),
            "GET /sse": client.get("/sse", headers={"accept": "text/event-stream", **ALICE, **EVIL}),
            "POST /message": client.post(
                "/message?session_id=0", headers={**ALICE, **EVIL, "content-type": "application/json"}, json=PING
            ),
        }
        assert {name: answer.status_code for name, answer in refused.items()} == dict.fromkeys(refused, 403)
        for origin in ("https://app.example", "http://localhost:5173", "http://127.0.0.1:8080"):
            answer = client.post("/mcp", headers={**ACCEPT, **ALICE, "origin": origin}, json=INITIALIZE)
            assert answer.status_code == 200, origin


# --- the client's token stays at Forge ------------------------------------------------------------


class RecordingUpstream(StubHandler):
    """A 2026-07-28 MCP server over plain JSON answers, with one tool, `whoami`; every request's
    headers are kept in `seen`."""

    seen: list[dict] = []

    def do_POST(self):
        self.seen.append({name.lower(): value for name, value in self.headers.items()})
        message = json.loads(self.read_body())
        results = {
            "server/discover": {
                "supportedVersions": [MODERN],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "recording", "version": "1"},
            },
            "tools/list": {"tools": [{"name": "whoami", "inputSchema": {"type": "object"}}]},
            "tools/call": {"content": [{"type": "text", "text": "recorded"}], "isError": False},
        }
        if message.get("method") in results:
            answer = {"jsonrpc": "2.0", "id": message.get("id"), "result": results[message["method"]]}
        else:
            answer = {"jsonrpc": "2.0", "id": message.get("id"), "error": {"code": -32601, "message": "no"}}
        self.send_json(answer)


@pytest.fixture
def recording_upstream():
    handler = type("Recording", (RecordingUpstream,), {"seen": []})
    stub = StubServer(handler)
    yield stub.url + "/mcp", handler.seen
    stub.close()


def call(forge, who: dict, name: str) -> dict:
    answer = httpx.post(
        forge.url + "/rpc",
        headers=who,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def test_a_rest_upstream_never_sees_the_clients_token(guarded, rest_upstream):
    with httpx.Client(base_url=guarded.url, headers=ADMIN, timeout=10) as api:
        bare = api.post("/tools", json={"name": "bare", "url": rest_upstream + "/echo", "method": "GET"})
        keyed = api.post("/tools", json={
            "name": "keyed", "url": rest_upstream + "/echo", "method": "GET",
            "headers": {"Authorization": "Bearer upstream-key"},
        })
        assert (bare.status_code, keyed.status_code) == (201, 201), (bare.text, keyed.text)
    for who in (ALICE, {"authorization": "Basic YWRtaW46Y2hhbmdlbWU="}):
        received = json.loads(call(guarded, {**who, "cookie": "session=client"}, "bare")["content"][0]["text"])
        assert "authorization" not in received["headers"] and "cookie" not in received["headers"]
        received = json.loads(call(guarded, who, "keyed")["content"][0]["text"])
        assert received["headers"]["authorization"] == "Bearer upstream-key"


def test_a_federated_upstream_never_sees_the_clients_token(guarded, recording_upstream):
    url, seen = recording_upstream
    with httpx.Client(base_url=guarded.url, headers=ADMIN, timeout=60) as api:
        gateway = api.post("/gateways", json={
            "name": "rec", "url": url, "headers": {"Authorization": "Bearer gateway-key"},
        })
        assert gateway.status_code == 201, gateway.text
        assert gateway.json()["state"] == "healthy", gateway.json()
    result = call(guarded, ALICE, "rec.whoami")
    assert result["content"][0]["text"] == "recorded"
    methods = [headers.get("mcp-method") for headers in seen]
    assert "tools/call" in methods
    assert {headers.get("authorization") for headers in seen} == {"Bearer gateway-key"}
    client_token = ALICE["authorization"].removeprefix("Bearer ")
    assert not any(client_token in value for headers in seen for value in headers.values())
