"""What a caller without valid credentials is told: Basic on the management API, and on MCP
endpoints the Bearer challenge the MCP authorization spec asks for, naming the gateway's OAuth
protected resource metadata (RFC 9728), which anyone may read."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from forge.hookspecs import hookimpl

ACCEPT = {"accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
def guarded(start_forge, monkeypatch):
    monkeypatch.setenv("AUTH_AUTHORIZATION_SERVERS", "https://login.example, https://backup.example")
    forge = start_forge(auth_required=True, basic_auth_password="pw")
    forge.desk = httpx.post(forge.url + "/servers", json={"name": "desk"}, auth=("admin", "pw")).json()["id"]
    return forge


def test_the_management_api_challenges_with_basic(guarded):
    for headers in ({}, {"authorization": "Basic YWRtaW46d3Jvbmc="}, {"authorization": "Digest abc"}):
        answer = httpx.get(guarded.url + "/tools", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Basic realm="forge"'
        assert answer.json()["error"]["code"] == "unauthenticated"


async def test_mcp_endpoints_name_the_protected_resource_metadata(guarded):
    expected = f'Bearer resource_metadata="{guarded.url}/.well-known/oauth-protected-resource"'
    async with httpx.AsyncClient(base_url=guarded.url) as http:
        for path in ("/mcp", "/rpc", f"/servers/{guarded.desk}/mcp", f"/servers/{guarded.desk}/rpc"):
            answer = await http.post(path, json=PING, headers=ACCEPT)
            assert (answer.status_code, answer.headers["www-authenticate"]) == (401, expected), path
        answer = await http.get("/sse", headers={"accept": "text/event-stream"})
        assert (answer.status_code, answer.headers["www-authenticate"]) == (401, expected)
        bad = await http.post("/mcp", json=PING, headers={**ACCEPT, "authorization": "Bearer nope"})
        assert bad.headers["www-authenticate"].startswith(expected + ', error="invalid_token"')
    with pytest.raises(InvalidStatus) as refused:
        async with connect(guarded.url.replace("http", "ws") + "/ws", subprotocols=["mcp"]):
            pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["www-authenticate"] == expected


def test_the_metadata_is_public_and_describes_the_gateway_and_each_endpoint(guarded):
    document = httpx.get(guarded.url + "/.well-known/oauth-protected-resource").json()
    assert document == {
        "resource": guarded.url,
        "authorization_servers": ["https://login.example", "https://backup.example"],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["admin", "read"],
        "resource_name": "Forge",
    }
    mcp = httpx.get(guarded.url + "/.well-known/oauth-protected-resource/mcp").json()
    assert mcp["resource"] == guarded.url + "/mcp"
    desk = httpx.get(guarded.url + f"/.well-known/oauth-protected-resource/servers/{guarded.desk}/mcp").json()
    assert desk["resource"] == f"{guarded.url}/servers/{guarded.desk}/mcp"
    assert desk["scopes_supported"] == [f"server:{guarded.desk}", "admin", "read"]
    assert httpx.get(guarded.url + "/.well-known/oauth-protected-resource/tools").status_code == 404


def test_behind_a_root_path_the_challenge_and_the_metadata_carry_it(start_forge):
    forge = start_forge(auth_required=True, app_root_path="/gateway")
    answer = httpx.post(forge.url + "/gateway/mcp", json=PING, headers=ACCEPT)
    metadata_url = f"{forge.url}/gateway/.well-known/oauth-protected-resource"
    assert answer.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata_url}"'
    assert httpx.get(metadata_url).json()["resource"] == forge.url + "/gateway"


def test_a_forged_host_header_is_not_echoed_into_the_challenge(guarded):
    answer = httpx.post(guarded.url + "/mcp", json=PING, headers={**ACCEPT, "host": 'evil"x, Basic realm="y'})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].count('"') == 2


class ApiKeys:
    """A third-party authentication plugin: an X-Api-Key header, and its own challenge."""

    @hookimpl
    def forge_authenticate(self, gateway, credentials):
        from forge.contracts import Principal

        if credentials.headers.get("x-api-key") == "k-123":
            return Principal(name="robot", scopes=frozenset({"read"}), method="api_key")
        return None

    @hookimpl
    def forge_auth_challenge(self, gateway, credentials):
        return 'ApiKey header="X-Api-Key"' if credentials.resource is None else None


def test_another_plugin_may_answer_its_own_challenge(start_forge):
    forge = start_forge(plugins=[ApiKeys()], auth_required=True)
    assert httpx.get(forge.url + "/tools").headers["www-authenticate"] == 'ApiKey header="X-Api-Key"'
    assert httpx.get(forge.url + "/tools", headers={"x-api-key": "k-123"}).status_code == 200
    mcp = httpx.post(forge.url + "/mcp", json=PING, headers=ACCEPT)
    assert mcp.headers["www-authenticate"].startswith("Bearer resource_metadata=")  # not its business


def test_without_the_auth_plugin_the_kernel_challenges_with_basic(start_forge):
    forge = start_forge(plugins=[ApiKeys()], auth_required=True, plugins_disabled=["auth_basic_jwt"])
    assert (
        httpx.post(forge.url + "/mcp", json=PING, headers=ACCEPT).headers["www-authenticate"]
        == 'Basic realm="forge"'
    )
    assert httpx.get(forge.url + "/.well-known/oauth-protected-resource").status_code == 404
