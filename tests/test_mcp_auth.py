"""Who may speak MCP: with AUTH_REQUIRED, the MCP endpoints want credentials, a session belongs to
the principal that opened it, and a token scoped to one virtual server reaches only that one."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from forge_plugins.auth_basic_jwt import create_token

SECRET = "mcp-auth-test-secret-of-32-bytes-or-more"
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}


def bearer(user: str, scopes: list[str] | None = None) -> dict:
    return {"authorization": f"Bearer {create_token(user, SECRET, scopes=scopes)}"}


@pytest.fixture
def guarded(start_forge, rest_upstream):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    with httpx.Client(base_url=forge.url, headers=bearer("admin"), timeout=10) as api:
        tool = api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).json()
        server = api.post("/servers", json={"name": "desk", "tool_ids": [tool["id"]]}).json()
    forge.server_id = server["id"]
    return forge


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_with_a_token_lists_and_calls(guarded, mode):
    http = create_mcp_http_client(headers=bearer("alice", ["read"]))
    async with (
        http,
        Client(streamable_http_client(guarded.url + "/mcp", http_client=http), mode=mode) as client,
    ):
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
        assert not (await client.call_tool("echo", {})).is_error


def test_no_credentials_is_401_with_a_challenge(guarded):
    for headers in ({}, {"authorization": "Bearer not-a-jwt"}, {"authorization": "Basic YWRtaW46d3Jvbmc="}):
        answer = httpx.post(guarded.url + "/mcp", headers={**ACCEPT, **headers}, json=INITIALIZE)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"]
        assert answer.headers["connection"] == "close"
        assert answer.json()["error"]["code"] == -32600


def test_a_session_belongs_to_whoever_opened_it(guarded):
    opened = httpx.post(
        guarded.url + "/mcp", headers={**ACCEPT, **bearer("alice", ["read"])}, json=INITIALIZE
    )
    session = {"mcp-session-id": opened.headers["mcp-session-id"]}
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    stolen = httpx.post(
        guarded.url + "/mcp", headers={**ACCEPT, **bearer("mallory", ["read"]), **session}, json=ping
    )
    assert stolen.status_code == 404
    assert (
        httpx.delete(guarded.url + "/mcp", headers={**bearer("mallory", ["read"]), **session}).status_code
        == 404
    )
    own = httpx.post(
        guarded.url + "/mcp", headers={**ACCEPT, **bearer("alice", ["read"]), **session}, json=ping
    )
    assert own.json()["result"] == {}


def test_a_server_scoped_token_reaches_only_its_server(guarded):
    token = bearer("desk-bot", [f"server:{guarded.server_id}"])
    answer = httpx.post(
        guarded.url + f"/servers/{guarded.server_id}/mcp", headers={**ACCEPT, **token}, json=INITIALIZE
    )
    assert answer.status_code == 200
    refused = httpx.post(guarded.url + "/mcp", headers={**ACCEPT, **token}, json=INITIALIZE)
    assert refused.status_code == 403
    assert "desk-bot" in refused.json()["error"]["message"]
