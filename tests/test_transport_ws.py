"""MCP over WebSocket (plugin transport_ws): one JSON-RPC message per text frame, a socket per
session. The official SDK has no WebSocket client, so these tests speak JSON-RPC by hand with the
`websockets` library, as a browser or a small script would."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from itertools import count

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from forge_plugins.auth_basic_jwt import create_token
from tests.walkthrough import catalog, created, settle

SECRET = "k" * 32


class McpSocket:
    """A hand-written MCP client over a WebSocket: requests by id, notifications kept aside."""

    def __init__(self, socket):
        self.socket = socket
        self.ids = count(1)
        self.notifications: list[dict] = []

    async def send(self, message: dict | str) -> None:
        await self.socket.send(
            message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
        )

    async def receive(self) -> dict:
        async with asyncio.timeout(5):
            return json.loads(await self.socket.recv())

    async def request(self, method: str, params: dict | None = None) -> dict:
        """The whole answer (result or error) to one request."""
        request_id = next(self.ids)
        await self.send(
            {"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params else {})}
        )
        while True:
            message = await self.receive()
            if message.get("id") == request_id:
                return message
            self.notifications.append(message)

    async def notification(self, method: str) -> dict:
        while True:
            found = [n for n in self.notifications if n.get("method") == method]
            if found:
                self.notifications.remove(found[0])
                return found[0]
            self.notifications.append(await self.receive())

    async def initialize(self) -> dict:
        answer = await self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "by-hand", "version": "1"},
            },
        )
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer["result"]


def ws_url(forge, path: str = "/ws") -> str:
    return forge.url.replace("http://", "ws://") + path


@asynccontextmanager
async def mcp_socket(forge, path: str = "/ws", **options):
    async with connect(
        ws_url(forge, path), subprotocols=options.pop("subprotocols", ["mcp"]), **options
    ) as socket:
        yield McpSocket(socket)


def sessions(forge) -> int:
    return len(forge.gateway.engine.sessions)


async def test_a_hand_written_client_uses_tools_prompts_and_resources(forge, api, rest_upstream):
    stored = catalog(api, rest_upstream)
    async with mcp_socket(forge) as client:
        assert client.socket.subprotocol == "mcp"
        result = await client.initialize()
        assert result["protocolVersion"] == "2025-06-18"
        assert result["capabilities"]["resources"] == {"subscribe": True, "listChanged": True}

        tools = (await client.request("tools/list"))["result"]["tools"]
        assert [tool["name"] for tool in tools] == ["echo"]
        called = (await client.request("tools/call", {"name": "echo", "arguments": {"id": "7"}}))["result"]
        assert called["isError"] is False
        assert '"path": "/echo/7"' in called["content"][0]["text"]

        prompt = (await client.request("prompts/get", {"name": "greet", "arguments": {"user": "Ada"}}))[
            "result"
        ]
        assert prompt["messages"] == [{"role": "user", "content": {"type": "text", "text": "Hello, Ada!"}}]

        read = (await client.request("resources/read", {"uri": "docs://readme"}))["result"]
        assert read["contents"] == [{"uri": "docs://readme", "mimeType": "text/markdown", "text": "# Forge"}]

        assert (await client.request("resources/subscribe", {"uri": "docs://readme"}))["result"] == {}
        api.put(
            f"/resources/{stored['resource']['id']}", json={"content": "# Forge, edited"}
        ).raise_for_status()
        updated = await client.notification("notifications/resources/updated")
        assert updated["params"] == {"uri": "docs://readme"}

        created(api.post("/prompts", json={"name": "second", "template": "Again"}))
        await client.notification("notifications/prompts/list_changed")
        prompts = (await client.request("prompts/list"))["result"]["prompts"]
        assert sorted(p["name"] for p in prompts) == ["greet", "second"]


async def test_a_virtual_server_has_its_own_socket(forge, api, rest_upstream):
    stored = catalog(api, rest_upstream)
    server = created(api.post("/servers", json={"name": "desk", "prompt_ids": [stored["prompt"]["id"]]}))
    async with mcp_socket(forge, f"/servers/{server['id']}/ws") as client:
        await client.initialize()
        assert (await client.request("tools/list"))["result"]["tools"] == []
        assert [p["name"] for p in (await client.request("prompts/list"))["result"]["prompts"]] == ["greet"]
    with pytest.raises(InvalidStatus) as refused:
        async with mcp_socket(forge, "/servers/no-such-server/ws"):
            pass
    assert refused.value.response.status_code == 404


async def test_frames_that_are_not_json_rpc_get_errors_and_the_socket_stays_open(forge):
    async with mcp_socket(forge) as client:
        before = await client.request("tools/list")
        assert before["error"]["message"] == "Session not initialized: send initialize first"
        await client.send("{not json")
        assert (await client.receive())["error"]["code"] == -32700
        await client.send("[]")
        assert (await client.receive())["error"][
            "message"
        ] == "Invalid Request: JSON-RPC batches are not supported"
        await client.send({"jsonrpc": "1.0", "id": 5, "method": "ping"})
        assert await client.receive() == {
            "jsonrpc": "2.0",
            "id": 5,
            "error": {"code": -32600, "message": 'Invalid Request: "jsonrpc" must be "2.0"'},
        }
        await client.socket.send(b'{"jsonrpc": "2.0", "id": 6, "method": "ping"}')
        assert (await client.receive())["error"]["message"] == "Invalid Request: send JSON-RPC as text frames"
        await client.initialize()
        assert (await client.request("ping")) == {"jsonrpc": "2.0", "id": 3, "result": {}}


async def test_a_frame_over_the_size_limit_closes_the_socket_with_1009(start_forge):
    forge = start_forge(max_body_bytes=2048)
    async with mcp_socket(forge) as client:
        await client.initialize()
        await client.send(
            {"jsonrpc": "2.0", "id": 9, "method": "ping", "params": {"pad": "é" * 1100}}
        )  # 2200 bytes
        with pytest.raises(ConnectionClosed) as closed:
            await client.receive()
    assert closed.value.rcvd.code == 1009
    assert await settle(lambda: sessions(forge) == 0)


async def test_a_socket_that_goes_away_takes_its_session_along(forge, api, rest_upstream):
    created(api.post("/tools", json={"name": "slow", "url": rest_upstream + "/slow/3"}))
    before = sessions(forge)
    async with mcp_socket(forge) as client:
        await client.initialize()
        await client.send(
            {"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "slow", "arguments": {}}}
        )
        assert await settle(lambda: sessions(forge) == before + 1)
        client.socket.transport.abort()  # no closing handshake: the client just vanishes
    assert await settle(lambda: sessions(forge) == before)


async def test_a_bearer_token_travels_as_header_subprotocol_or_query(start_forge):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    token = create_token("ada", SECRET)
    for refused_options in ({}, {"additional_headers": {"authorization": "Bearer not-a-token"}}):
        with pytest.raises(InvalidStatus) as refused:
            async with mcp_socket(forge, **refused_options):
                pass
        assert refused.value.response.status_code == 401
        assert refused.value.response.headers["www-authenticate"].startswith(("Basic", "Bearer"))

    ways = [
        ("/ws", {"additional_headers": {"authorization": f"Bearer {token}"}}),
        ("/ws", {"subprotocols": ["mcp", f"bearer.{token}"]}),
        (f"/ws?token={token}", {}),
    ]
    for path, options in ways:
        async with mcp_socket(forge, path, **options) as client:
            assert client.socket.subprotocol == "mcp"  # never the token
            assert (await client.initialize())["serverInfo"]["name"] == "Forge"


async def test_scopes_and_origin_refuse_the_handshake(start_forge):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    admin = {"authorization": f"Bearer {create_token('admin', SECRET)}"}
    async with httpx.AsyncClient() as http:
        desk = (await http.post(forge.url + "/servers", json={"name": "desk"}, headers=admin)).json()
    scoped_token = create_token("ada", SECRET, scopes=[f"server:{desk['id']}"])
    scoped = {"authorization": f"Bearer {scoped_token}"}
    refusals = [
        ("/ws", {"additional_headers": scoped}, 403),
        ("/ws", {"additional_headers": admin, "origin": "https://evil.example"}, 403),
    ]
    for path, options, status in refusals:
        with pytest.raises(InvalidStatus) as refused:
            async with mcp_socket(forge, path, **options):
                pass
        assert refused.value.response.status_code == status
    async with mcp_socket(forge, f"/servers/{desk['id']}/ws", additional_headers=scoped) as client:
        await client.initialize()
    async with mcp_socket(forge, additional_headers=admin, origin="http://localhost:3000") as client:
        await client.initialize()


def test_plain_http_is_told_to_upgrade(forge):
    answer = httpx.get(forge.url + "/ws")
    assert answer.status_code == 426
    assert answer.headers["upgrade"] == "websocket"


async def test_without_the_plugin_its_routes_are_404(start_forge):
    forge = start_forge(plugins_disabled=["transport_ws"])
    assert "websocket" not in forge.gateway.transports
    async with httpx.AsyncClient() as http:
        assert (await http.get(forge.url + "/ws")).status_code == 404
    with pytest.raises(InvalidStatus) as refused:
        async with mcp_socket(forge):
            pass
    assert refused.value.response.status_code == 404


def test_without_the_http_response_extension_a_refusal_is_close_1008(start_forge):
    forge = start_forge(auth_required=True)
    sent: list[dict] = []

    async def handshake():
        scope = {
            "type": "websocket",
            "path": "/ws",
            "query_string": b"",
            "headers": [],
            "subprotocols": [],
            "extensions": {},
        }
        events = iter([{"type": "websocket.connect"}])

        async def receive():
            return next(events)

        async def send(message):
            sent.append(message)

        await forge.app(scope, receive, send)

    forge.run(handshake())
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "authentication required"}]
