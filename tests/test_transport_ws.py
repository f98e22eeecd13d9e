"""MCP over WebSocket (plugin transport_ws): one JSON-RPC message per text frame, a socket per
session. The official SDK has no WebSocket client, so these tests speak JSON-RPC by hand with the
`websockets` library, as a browser or a small script would. At the end, the client side: Forge
reaches an SDK-built upstream served over WebSocket (transport "websocket" of a gateway)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from contextlib import asynccontextmanager
from itertools import count

import anyio
import httpx
import pytest
from mcp import Client, MCPError, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage
from mcp.types import jsonrpc_message_adapter
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from forge_plugins.auth_basic_jwt import create_token
from tests.federation_upstream import build as build_upstream
from tests.walkthrough import catalog, created, settle

pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")
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
    before, tasks_before = sessions(forge), forge.run(count_tasks())
    async with mcp_socket(forge) as client:
        await client.initialize()
        await client.send(
            {"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "slow", "arguments": {}}}
        )
        assert await settle(lambda: sessions(forge) == before + 1)
        client.socket.transport.abort()  # no closing handshake: the client just vanishes
    assert await settle(lambda: sessions(forge) == before)
    assert await settle(lambda: forge.run(count_tasks()) <= tasks_before)  # its call was cancelled too


async def count_tasks() -> int:
    """Tasks on the gateway's loop, less Hypercorn's (its connections linger until their idle timeout)."""
    return sum("hypercorn" not in task.get_coro().cr_code.co_filename for task in asyncio.all_tasks())


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
    assert "websocket" not in forge.gateway.upstream_connectors  # nor its client side
    gateway = {"name": "socket", "url": f"ws://127.0.0.1:{forge.port}/ws", "transport": "websocket"}
    async with httpx.AsyncClient(base_url=forge.url, timeout=60) as http:
        created = (await http.post("/gateways", json=gateway)).json()
        stored = (await http.get(f"/gateways/{created['id']}")).json()
    assert stored["state"] == "unhealthy"
    assert "no installed plugin connects 'websocket'" in stored["last_error"]
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


# --- the client side: an upstream reached over WebSocket ------------------------------------------


class SdkOverWebSocket:
    """The tests' SDK-built upstream (tests/federation_upstream.py) served over WebSocket, one JSON-RPC
    message per text frame, on a loop of its own in a thread. The SDK has no WebSocket transport:
    the frames are bridged to the message streams its server runs on. Each connection is recorded
    (subprotocol, Authorization header, close code). Beside the usual tools, `big` answers as many
    characters as asked."""

    def __init__(self, name: str):
        self.server = build_upstream(name)

        def big(size: int) -> str:
            return "x" * size

        self.server.add_tool(big, name="big", description="Answers `size` characters", structured_output=False)
        self.connections: list[dict] = []
        self.loop = asyncio.new_event_loop()
        self.stopping: asyncio.Event | None = None
        self.port: int | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)
        self.ready = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/mcp"

    async def _run(self) -> None:
        self.stopping = asyncio.Event()
        async with serve(self._session, "127.0.0.1", 0, subprotocols=[Subprotocol("mcp")]) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stopping.wait()

    async def _session(self, socket) -> None:
        authorization = socket.request.headers.get("authorization")
        seen = {"subprotocol": socket.subprotocol, "authorization": authorization}
        self.connections.append(seen)
        to_server, server_reads = anyio.create_memory_object_stream(0)
        server_writes, from_server = anyio.create_memory_object_stream(0)

        async def frames_in():
            async with to_server:
                with contextlib.suppress(ConnectionClosed):
                    async for frame in socket:
                        await to_server.send(SessionMessage(jsonrpc_message_adapter.validate_json(frame)))

        async def frames_out():
            async with from_server:
                async for message in from_server:
                    with contextlib.suppress(ConnectionClosed):
                        await socket.send(message.message.model_dump_json(by_alias=True, exclude_unset=True))

        lowlevel = self.server._lowlevel_server  # as the SDK's own run_stdio_async does
        async with anyio.create_task_group() as group:
            group.start_soon(frames_in)
            group.start_soon(frames_out)
            await lowlevel.run(server_reads, server_writes, lowlevel.create_initialization_options())
            group.cancel_scope.cancel()
        await socket.wait_closed()
        seen["close_code"] = socket.close_code

    def start(self) -> SdkOverWebSocket:
        self.thread.start()
        assert self.ready.wait(10), "the WebSocket upstream did not start"
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)


@pytest.fixture
def ws_upstream():
    upstream = SdkOverWebSocket("delta").start()
    yield upstream
    upstream.stop()


def register(forge, **gateway) -> dict:
    with httpx.Client(base_url=forge.url, timeout=60) as api:
        created = api.post("/gateways", json=gateway)
        assert created.status_code == 201, created.text
        return api.get(f"/gateways/{created.json()['id']}").json()


async def test_an_sdk_server_reached_over_websocket_lends_its_tools(forge, ws_upstream):
    headers = {"Authorization": "Bearer up"}
    record = register(forge, name="delta", url=ws_upstream.url, transport="websocket", headers=headers)
    assert record["state"] == "healthy", record["last_error"]
    assert record["capabilities"]["serverInfo"]["name"] == "upstream-delta"
    assert ws_upstream.connections[0] == {"subprotocol": "mcp", "authorization": "Bearer up"}

    async with Client(streamable_http_client(forge.url + "/mcp"), cache=None) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {"delta.echo", "delta.count", "delta.whoami"} <= tools
        result = await client.call_tool("delta.echo", {"text": "over a socket"})
        assert (result.is_error, result.content[0].text) == (False, "delta: over a socket")
        progress = []

        async def on_progress(value, total, message):
            progress.append(value)

        counted = await client.call_tool("delta.count", {"n": 2}, progress_callback=on_progress)
        assert (counted.content[0].text, progress) == ("counted to 2", [1, 2])

    # Deleting the gateway closes its socket with the closing handshake.
    httpx.delete(f"{forge.url}/gateways/{record['id']}", timeout=30).raise_for_status()
    assert await settle(lambda: "close_code" in ws_upstream.connections[0], timeout=15)
    assert ws_upstream.connections[0]["close_code"] == 1000


async def test_an_upstream_frame_over_the_size_limit_ends_that_connection_and_forge_reconnects(
    start_forge, ws_upstream
):
    forge = start_forge(max_body_bytes=4096)
    register(forge, name="delta", url=ws_upstream.url, transport="websocket")
    async with Client(streamable_http_client(forge.url + "/mcp"), cache=None) as client:
        big = await client.call_tool("delta.big", {"size": 5000})
        assert big.is_error and "upstream 'delta' is unreachable" in big.content[0].text
        assert await settle(lambda: ws_upstream.connections[0].get("close_code") == 1009, timeout=15)

        async def small_call_answers():
            failure = None
            for _ in range(150):  # the gateway comes back after its reconnect delay
                try:
                    result = await client.call_tool("delta.echo", {"text": "small"})
                except MCPError as error:  # meanwhile its tools are out of the list, and calls say why
                    assert "upstream 'delta' is down" in str(error)
                    failure = str(error)
                else:
                    if not result.is_error:
                        return result.content[0].text
                    failure = result.content[0].text
                await asyncio.sleep(0.2)
            return failure

        assert await small_call_answers() == "delta: small"
    assert len(ws_upstream.connections) == 2


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_websocket_upstreams_elicitation_reaches_the_client_in_either_era(forge, ws_upstream, mode):
    """The socket is spoken to in the handshake era, so `ctx.elicit()` upstream asks mid-call: a
    handshake-era client on its call's stream, a 2026-07-28 client as an input_required round."""
    register(forge, name="delta", url=ws_upstream.url, transport="websocket")
    asked = []

    async def elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Lin"})

    async with Client(
        streamable_http_client(forge.url + "/mcp"), mode=mode, cache=None, elicitation_callback=elicit
    ) as client:
        assert (client.protocol_version == "2026-07-28") == (mode == "auto")
        named = await client.call_tool("delta.ask_name", {})
    assert (named.content[0].text, asked) == ("hello Lin", ["What is your name?"])
