"""Virtual servers: a named selection of tools, prompts and resources with its own MCP endpoint at
/servers/{id}/mcp, which lists and serves only its members, in both protocol eras."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.parametrize("mode", ["legacy", "auto"])


def connect(forge, path: str, mode: str) -> Client:
    return Client(streamable_http_client(forge.url + path), mode=mode, cache=None)


async def raw_initialize(forge, path: str) -> httpx.Response:
    """An initialize POST with no SDK in the way, to see the HTTP status itself."""
    async with httpx.AsyncClient(base_url=forge.url) as http:
        return await http.post(
            path,
            headers={"accept": "application/json, text/event-stream"},
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25"},
            },
        )


def created(answer: httpx.Response) -> dict:
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture
def catalog(api, rest_upstream) -> dict:
    """Two tools, two prompts, two resources, and a virtual server holding one of each."""
    found = {
        "weather": created(api.post("/tools", json={"name": "weather", "url": rest_upstream + "/weather"})),
        "payroll": created(api.post("/tools", json={"name": "payroll", "url": rest_upstream + "/payroll"})),
        "hello": created(api.post("/prompts", json={"name": "hello", "template": "Hello"})),
        "secret_prompt": created(api.post("/prompts", json={"name": "secret_prompt", "template": "psst"})),
        "public": created(api.post("/resources", json={"uri": "docs://public", "content": "for all"})),
        "private": created(api.post("/resources", json={"uri": "docs://private", "content": "for admins"})),
    }
    found["server"] = created(
        api.post(
            "/servers",
            json={
                "name": "weather-desk",
                "tool_ids": [found["weather"]["id"]],
                "prompt_ids": [found["hello"]["id"]],
                "resource_ids": [found["public"]["id"]],
            },
        )
    )
    return found


async def test_a_virtual_server_lists_and_calls_only_its_members(forge, catalog, mode):
    path = f"/servers/{catalog['server']['id']}/mcp"
    async with connect(forge, path, mode) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["weather"]
        assert [p.name for p in (await client.list_prompts()).prompts] == ["hello"]
        assert [str(r.uri) for r in (await client.list_resources()).resources] == ["docs://public"]
        result = await client.call_tool("weather", {})
        assert not result.is_error
        assert '"path": "/weather"' in result.content[0].text
        assert (await client.get_prompt("hello")).messages[0].content.text == "Hello"
        assert (await client.read_resource("docs://public")).contents[0].text == "for all"


async def test_a_virtual_server_refuses_what_it_does_not_hold(forge, catalog, mode):
    path = f"/servers/{catalog['server']['id']}/mcp"
    async with connect(forge, "/mcp", mode) as everything:
        # Read through the whole-gateway endpoint first: a cached read must not leak into the server.
        assert (await everything.read_resource("docs://private")).contents[0].text == "for admins"
        assert len((await everything.list_tools()).tools) == 2
    not_found = -32002 if mode == "legacy" else -32602  # 2026-07-28 retired -32002
    async with connect(forge, path, mode) as client:
        for attempt, code, message in (
            (client.call_tool("payroll", {}), -32602, "Unknown tool: payroll"),
            (client.get_prompt("secret_prompt"), -32602, "Unknown prompt: secret_prompt"),
            (client.read_resource("docs://private"), not_found, "Resource not found: docs://private"),
        ):
            with pytest.raises(MCPError) as raised:
                await attempt
            assert (raised.value.error.code, raised.value.error.message) == (code, message)


async def test_an_unknown_virtual_server_is_404(forge, catalog, mode):
    with pytest.raises(ExceptionGroup) as raised:
        async with connect(forge, "/servers/no-such-server/mcp", mode) as client:
            await client.list_tools()
    assert raised.group_contains(MCPError, match="Virtual server 'no-such-server' not found")
    answer = await raw_initialize(forge, "/servers/no-such-server/mcp")
    assert answer.status_code == 404
    assert "no-such-server" in answer.json()["error"]["message"]


async def test_a_disabled_virtual_server_is_404(forge, api, catalog, mode):
    api.post(f"/servers/{catalog['server']['id']}/disable").raise_for_status()
    answer = await raw_initialize(forge, f"/servers/{catalog['server']['id']}/mcp")
    assert answer.status_code == 404


async def test_adding_a_member_shows_it_on_the_server(forge, api, catalog, mode):
    server = catalog["server"]
    path = f"/servers/{server['id']}/mcp"
    async with connect(forge, path, mode) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["weather"]
        tool_ids = [catalog["weather"]["id"], catalog["payroll"]["id"]]
        api.put(f"/servers/{server['id']}", json={"tool_ids": tool_ids}).raise_for_status()
        assert [t.name for t in (await client.list_tools()).tools] == ["payroll", "weather"]
        assert not (await client.call_tool("payroll", {})).is_error
