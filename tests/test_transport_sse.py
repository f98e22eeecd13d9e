"""The HTTP+SSE transport of 2024-11-05 (plugin transport_sse): GET /sse opens a stream whose first
event names the message URL, POSTs there are answered 202, and everything the server says arrives
on the stream. The official client works over it, and a client that leaves takes its session along."""

from __future__ import annotations

import asyncio
import base64
import re
from contextlib import asynccontextmanager

import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client

from forge_plugins.auth_basic_jwt import create_token
from tests.walkthrough import Notifications, catalog, created, settle, walk_through

pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2024-11-05",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}


@asynccontextmanager
async def stream(base_url: str, path: str = "/sse", **headers):
    """An open event stream, as (HTTP client, response, a reader of its events)."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as http,
        http.stream("GET", path, headers=headers) as response,
    ):
        yield http, response, EventReader(response)


class EventReader:
    def __init__(self, response: httpx.Response):
        self.lines = response.aiter_lines()

    async def next(self, comments: bool = False) -> tuple[str, str]:
        """(event name, data) of the next event; (":", text) for a comment when `comments`."""
        name, data = "message", []
        async with asyncio.timeout(5):
            async for line in self.lines:
                if line.startswith(":"):
                    if comments:
                        return ":", line[1:].strip()
                elif line:
                    field, _, value = line.partition(": ")
                    if field == "event":
                        name = value
                    elif field == "data":
                        data.append(value)
                elif data:
                    return name, "\n".join(data)
        raise AssertionError("the stream ended")


def sessions(forge) -> int:
    return len(forge.gateway.engine.sessions)


async def test_the_official_client_works_over_sse(forge, api, rest_upstream):
    stored = catalog(api, rest_upstream)
    notes = Notifications()
    async with Client(sse_client(forge.url + "/sse"), mode="legacy", message_handler=notes) as client:
        assert sessions(forge) == 1
        await walk_through(client, notes, api, stored)
    assert await settle(lambda: sessions(forge) == 0)


async def test_a_virtual_server_has_its_own_stream_and_members(forge, api, rest_upstream):
    stored = catalog(api, rest_upstream)
    server = created(api.post("/servers", json={"name": "desk", "tool_ids": [stored["tool"]["id"]]}))
    async with stream(forge.url, f"/servers/{server['id']}/sse") as (_, _, events):
        name, endpoint = await events.next()
        assert (name, endpoint.split("?")[0]) == ("endpoint", f"/servers/{server['id']}/message")
    async with Client(sse_client(f"{forge.url}/servers/{server['id']}/sse"), mode="legacy") as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == ["echo"]
        assert (await client.list_prompts()).prompts == []


async def test_the_first_event_names_the_message_url_and_answers_follow_on_the_stream(forge):
    async with stream(forge.url) as (http, response, events):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        name, endpoint = await events.next()
        assert name == "endpoint"
        assert re.fullmatch(r"/message\?session_id=[0-9a-f]{32}", endpoint)

        posted = await http.post(endpoint, json=INITIALIZE)
        assert (posted.status_code, posted.text) == (202, "Accepted")
        name, data = await events.next()
        assert name == "message"
        answer = httpx.Response(200, content=data).json()
        assert answer["id"] == 1 and answer["result"]["protocolVersion"] == "2024-11-05"

        assert (
            await http.post(endpoint, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        ).status_code == 202
        assert (
            await http.post(endpoint, json={"jsonrpc": "2.0", "id": "two", "method": "ping"})
        ).status_code == 202
        assert await events.next() == ("message", '{"jsonrpc":"2.0","id":"two","result":{}}')


async def test_bad_messages_are_refused_with_an_http_status(start_forge):
    forge = start_forge(max_body_bytes=4096)
    async with stream(forge.url) as (http, _, events):
        _, endpoint = await events.next()
        bad_json = await http.post(endpoint, content=b"{nope", headers={"content-type": "application/json"})
        assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (400, -32700)
        batch = await http.post(endpoint, json=[INITIALIZE])
        assert (batch.status_code, batch.json()["error"]["code"]) == (400, -32600)
        huge = await http.post(
            endpoint, json={"jsonrpc": "2.0", "method": "x", "params": {"pad": "x" * 5000}}
        )
        assert huge.status_code == 413
        unknown = await http.post("/message?session_id=" + "0" * 32, json=INITIALIZE)
        assert (unknown.status_code, unknown.json()["error"]["message"]) == (
            404,
            "Session not found: open a new stream",
        )
        assert (await http.post("/message", json=INITIALIZE)).status_code == 400
        assert (await http.get(endpoint)).status_code == 405
        assert (await http.post("/sse", json=INITIALIZE)).status_code == 405
        assert (await http.get("/servers/no-such-server/sse")).status_code == 404
        # None of it disturbed the session.
        assert (await http.post(endpoint, json=INITIALIZE)).status_code == 202
        assert (await events.next())[0] == "message"


async def test_a_client_that_leaves_takes_its_session_and_requests_along(forge, api, rest_upstream):
    created(api.post("/tools", json={"name": "slow", "url": rest_upstream + "/slow/3"}))
    tasks_before = forge.run(count_tasks())
    async with stream(forge.url) as (http, _, events):
        _, endpoint = await events.next()
        await http.post(endpoint, json=INITIALIZE)
        await events.next()
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "slow", "arguments": {}},
        }
        assert (await http.post(endpoint, json=call)).status_code == 202
        assert sessions(forge) == 1
    assert await settle(lambda: sessions(forge) == 0)
    assert await settle(lambda: forge.run(count_tasks()) <= tasks_before)
    async with httpx.AsyncClient(base_url=forge.url) as http:
        assert (await http.post(endpoint, json=INITIALIZE)).status_code == 404


async def count_tasks() -> int:
    """Tasks on the gateway's loop, less Hypercorn's (its connections linger until their idle timeout)."""
    return sum("hypercorn" not in task.get_coro().cr_code.co_filename for task in asyncio.all_tasks())


async def test_the_message_url_honours_the_root_path(start_forge):
    forge = start_forge(app_root_path="/gateway")
    async with stream(forge.url, "/gateway/sse") as (_, _, events):
        _, endpoint = await events.next()
        assert endpoint.startswith("/gateway/message?session_id=")
    async with Client(sse_client(forge.url + "/gateway/sse"), mode="legacy") as client:
        assert (await client.list_tools()).tools == []


async def test_an_idle_stream_gets_keepalive_comments(start_forge, monkeypatch):
    monkeypatch.setenv("SSE_KEEPALIVE_SECONDS", "0.1")
    forge = start_forge()
    async with stream(forge.url) as (_, _, events):
        assert (await events.next())[0] == "endpoint"
        assert await events.next(comments=True) == (":", "ping")


async def test_credentials_scopes_and_origin_are_checked_as_on_streamable_http(start_forge):
    forge = start_forge(auth_required=True, basic_auth_password="s3cret", jwt_secret_key="k" * 32)
    basic = {"authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}
    async with httpx.AsyncClient(base_url=forge.url) as http:
        refused = await http.get("/sse")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer resource_metadata=")  # MCP's challenge
        assert (
            await http.get("/sse", headers={**basic, "origin": "https://evil.example"})
        ).status_code == 403
        desk = (await http.post("/servers", json={"name": "desk"}, headers=basic)).json()
        scoped = {"authorization": "Bearer " + create_token("ada", "k" * 32, scopes=[f"server:{desk['id']}"])}
        assert (await http.get("/sse", headers=scoped)).status_code == 403

    async with stream(forge.url, f"/servers/{desk['id']}/sse", **scoped) as (http, response, events):
        assert response.status_code == 200
        _, endpoint = await events.next()
        assert (await http.post(endpoint, json=INITIALIZE)).status_code == 401
        assert (
            await http.post(endpoint, json=INITIALIZE, headers=basic)
        ).status_code == 404  # not admin's session
        assert (await http.post(endpoint, json=INITIALIZE, headers=scoped)).status_code == 202

    async with Client(sse_client(forge.url + "/sse", headers=basic), mode="legacy") as client:
        assert (await client.list_tools()).tools == []


def test_without_the_plugin_its_routes_are_404(start_forge):
    forge = start_forge(plugins_disabled=["transport_sse"])
    assert "sse" not in forge.gateway.transports
    assert httpx.get(forge.url + "/sse").status_code == 404
    assert httpx.post(forge.url + "/message?session_id=x", json=INITIALIZE).status_code == 404
