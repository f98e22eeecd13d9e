"""The MCP engine on its own: messages in, messages out, through an in-memory transport.

No HTTP server runs here. Each test hands JSON-RPC messages and a `Connection` to
`gateway.engine.handle`, as any transport does, which shows the engine needs nothing from HTTP:
the handshake era's sessions, the stateless revision's envelope, cancellation, logging levels
and subscriptions all work over plain Python calls.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

import pytest

from forge.app import create_app
from forge.contracts import ANONYMOUS
from forge.hookspecs import hookimpl
from forge.mcp import session as session_module
from forge.mcp.context import Connection
from forge.mcp.subscriptions import Subscription
from forge.settings import Settings

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


class MemoryAdapter:
    """Tools of integration type MEMORY: `wait` blocks until released (or cancelled), `echo` answers."""

    def __init__(self):
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def invoke(self, tool: Mapping[str, Any], arguments: Mapping[str, Any], invocation=None) -> dict:
        if tool["name"] == "wait":
            self.started.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        return {"content": [{"type": "text", "text": f"{tool['name']}: {dict(arguments)}"}], "isError": False}


class MemoryTools:
    def __init__(self):
        self.adapter = MemoryAdapter()

    @hookimpl
    def forge_tool_adapters(self, gateway):
        return {"MEMORY": self.adapter}


class InMemoryTransport:
    """The smallest transport: one `Connection`, and a list of what the engine emitted on it."""

    def __init__(self, engine, *, session=None, routing_headers=None):
        self.engine = engine
        self.emitted: list[dict] = []
        self.connection = Connection(
            principal=ANONYMOUS,
            session=session,
            routing_headers=routing_headers,
            emit=self._emit,
            transport="memory",
        )

    async def _emit(self, message: dict) -> None:
        self.emitted.append(message)

    async def send(self, message: Any):
        return await self.engine.handle(message, self.connection)

    async def request(self, method: str, params: dict | None = None, id: Any = 1) -> dict:
        message = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        return await self.send(message)


@pytest.fixture
async def gateway(tmp_path):
    """A started gateway with no HTTP server: its store, catalog and engine only."""
    plugin = MemoryTools()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'forge.db'}", auth_required=False, _env_file=None
    )
    gateway = create_app(settings, plugins=[plugin]).gateway
    await gateway.start()
    gateway.memory = plugin.adapter
    for name, schema in (
        ("echo", {"type": "object", "properties": {"text": {"type": "string"}}}),
        ("wait", {"type": "object"}),
    ):
        await gateway.store.create(
            "tools", {"name": name, "integration_type": "MEMORY", "input_schema": schema}
        )
    await gateway.store.create(
        "prompts",
        {
            "name": "greet",
            "template": "Hello, {{ user }}!",
            "argument_schema": {
                "type": "object",
                "properties": {"user": {"type": "string"}},
                "required": ["user"],
            },
        },
    )
    await gateway.reload_catalog(announce=False)
    yield gateway
    await gateway.stop()


async def handshake(gateway) -> InMemoryTransport:
    session = gateway.engine.sessions.open(ANONYMOUS, None)
    transport = InMemoryTransport(gateway.engine, session=session)
    answer = await transport.request(
        "initialize",
        {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "memory", "version": "1"},
        },
    )
    assert answer["result"]["protocolVersion"] == "2025-11-25"
    assert await transport.send({"jsonrpc": "2.0", "method": "notifications/initialized"}) is None
    return transport


def test_the_engine_imports_nothing_from_http():
    code = (
        "import sys, forge.mcp.engine, forge.mcp.methods, forge.mcp.channel\n"
        "web = {'quart', 'hypercorn', 'httpx', 'starlette', 'werkzeug', 'h11', 'h2', 'aiohttp'}\n"
        "print(sorted(web & {name.split('.')[0] for name in sys.modules}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


async def test_a_full_handshake_era_conversation(gateway):
    session = gateway.engine.sessions.open(ANONYMOUS, None)
    transport = InMemoryTransport(gateway.engine, session=session)

    early = await transport.request("tools/list")
    assert early["error"]["code"] == -32600  # nothing but initialize (and ping) before the handshake
    assert (await transport.request("ping"))["result"] == {}

    answer = await transport.request(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {"roots": {}},
            "clientInfo": {"name": "memory", "version": "1"},
        },
    )
    result = answer["result"]
    assert result["protocolVersion"] == "2025-06-18"
    assert result["serverInfo"]["name"] == "Forge"
    assert set(result["capabilities"]) == {"tools", "resources", "prompts", "logging", "completions"}
    assert "resultType" not in result
    assert session.client_info == {"name": "memory", "version": "1"}
    assert session.client_capabilities == {"roots": {}}
    assert await transport.send({"jsonrpc": "2.0", "method": "notifications/initialized"}) is None

    tools = (await transport.request("tools/list", id="t"))["result"]
    assert [t["name"] for t in tools["tools"]] == ["echo", "wait"]
    assert "resultType" not in tools and "_meta" not in tools
    called = await transport.request("tools/call", {"name": "echo", "arguments": {"text": "hi"}}, id=2)
    assert called == {
        "jsonrpc": "2.0",
        "id": 2,
        "result": {"content": [{"type": "text", "text": "echo: {'text': 'hi'}"}], "isError": False},
    }
    prompt = await transport.request("prompts/get", {"name": "greet", "arguments": {"user": "Alice"}})
    assert prompt["result"]["messages"][0]["content"]["text"] == "Hello, Alice!"
    missing = await transport.request("prompts/get", {"name": "greet", "arguments": {}})
    assert missing["error"]["code"] == -32602
    assert (await transport.request("server/discover"))["error"]["code"] == -32601


async def test_a_2026_request_needs_no_session(gateway):
    transport = InMemoryTransport(gateway.engine)  # no session; no routing headers off HTTP
    discover = (await transport.request("server/discover", {"_meta": META}))["result"]
    assert discover["supportedVersions"] == [MODERN]
    assert discover["resultType"] == "complete"
    assert discover["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "Forge"
    assert {"ttlMs", "cacheScope"} <= set(discover)

    called = await transport.request(
        "tools/call", {"_meta": META, "name": "echo", "arguments": {"text": "x"}}
    )
    assert called["result"]["content"][0]["text"] == "echo: {'text': 'x'}"
    assert called["result"]["resultType"] == "complete"
    assert "ttlMs" not in called["result"]
    assert len(gateway.engine.sessions) == 0


async def test_the_2026_envelope_is_checked_in_order(gateway):
    transport = InMemoryTransport(gateway.engine)
    assert (await transport.request("tools/list"))["error"]["code"] == -32602
    assert (
        await transport.request("tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}})
    )["error"]["code"] == -32602
    not_a_string = {**META, "io.modelcontextprotocol/protocolVersion": 2026}
    assert (await transport.request("tools/list", {"_meta": not_a_string}))["error"]["code"] == -32602
    future = {**META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    answer = await transport.request("tools/list", {"_meta": future}, id="v")
    assert answer == {
        "jsonrpc": "2.0",
        "id": "v",
        "error": {
            "code": -32022,
            "message": "Unsupported protocol version: 2099-01-01",
            "data": {"supported": [MODERN], "requested": "2099-01-01"},
        },
    }
    assert (await transport.request("initialize", {"_meta": META}))["error"]["code"] == -32601

    # With routing headers (what an HTTP transport passes), a disagreement is found before the version.
    routed = InMemoryTransport(
        gateway.engine, routing_headers={"mcp-protocol-version": MODERN, "mcp-method": "tools/call"}
    )
    mismatch = await routed.request("tools/list", {"_meta": future})
    assert mismatch["error"]["code"] == -32020


async def test_malformed_messages_are_invalid_requests(gateway):
    transport = InMemoryTransport(gateway.engine)
    for message, echoed in (
        ("text", None),
        ([1], None),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "x"}, None),
        ({"jsonrpc": "2.0", "id": True, "method": "x"}, None),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, 1),
        ({"jsonrpc": "2.0", "id": "p", "method": "tools/list", "params": []}, "p"),
    ):
        answer = await transport.send(message)
        assert answer["error"]["code"] == -32600, message
        assert answer["id"] == echoed, message


async def test_notifications_cancelled_stops_a_slow_tool_call(gateway):
    transport = await handshake(gateway)
    session = transport.connection.session
    call = asyncio.create_task(
        transport.request("tools/call", {"name": "wait", "arguments": {}}, id="slow-1")
    )
    await asyncio.wait_for(gateway.memory.started.wait(), 5)
    assert "slow-1" in session.in_flight
    cancelled = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": "slow-1", "reason": "bored"},
    }
    assert await transport.send(cancelled) is None
    answer = await asyncio.wait_for(call, 5)
    assert answer == {
        "jsonrpc": "2.0",
        "id": "slow-1",
        "error": {"code": -32800, "message": "Request cancelled"},
    }
    assert gateway.memory.cancelled
    assert session.in_flight == {}
    # The session carries on.
    assert (await transport.request("tools/call", {"name": "echo", "arguments": {}}, id=3))["result"][
        "isError"
    ] is False


async def test_cancelling_an_unknown_request_is_harmless(gateway):
    transport = await handshake(gateway)
    for params in ({"requestId": "never-sent"}, {}, {"requestId": {"odd": True}}):
        assert (
            await transport.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params})
            is None
        )
    assert (await transport.request("ping"))["result"] == {}


async def test_closing_a_session_cancels_its_calls(gateway):
    transport = await handshake(gateway)
    session = transport.connection.session
    call = asyncio.create_task(transport.request("tools/call", {"name": "wait", "arguments": {}}, id=9))
    await asyncio.wait_for(gateway.memory.started.wait(), 5)
    gateway.engine.sessions.close(session.id)
    answer = await asyncio.wait_for(call, 5)
    assert answer["error"]["code"] == -32800
    assert gateway.memory.cancelled


async def test_logging_set_level_accepts_only_known_levels(gateway):
    transport = await handshake(gateway)
    session = transport.connection.session
    for level in ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"):
        assert (await transport.request("logging/setLevel", {"level": level})) == {
            "jsonrpc": "2.0",
            "id": 1,
            "result": {},
        }
        assert session.log_level == level
    for params in ({"level": "loud"}, {"level": "INFO"}, {"level": 3}, {}):
        answer = await transport.request("logging/setLevel", params)
        assert answer["error"]["code"] == -32602, params
    assert session.log_level == "emergency"
    modern = InMemoryTransport(gateway.engine)
    assert (await modern.request("logging/setLevel", {"_meta": META, "level": "info"}))["error"][
        "code"
    ] == -32601


async def test_list_changes_reach_sessions_and_listeners(gateway):
    transport = await handshake(gateway)
    session = transport.connection.session
    listener = InMemoryTransport(gateway.engine)
    subscription = await listener.request(
        "subscriptions/listen", {"_meta": META, "notifications": {"toolsListChanged": True}}, id="listen-1"
    )
    assert isinstance(subscription, Subscription)
    ack = await asyncio.wait_for(subscription.__anext__(), 5)
    assert ack == {
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {
            "notifications": {"toolsListChanged": True},
            "_meta": {"io.modelcontextprotocol/subscriptionId": "listen-1"},
        },
    }

    await gateway.store.create(
        "tools", {"name": "late", "integration_type": "MEMORY", "input_schema": {"type": "object"}}
    )
    await gateway.reload_catalog()

    changed = await asyncio.wait_for(subscription.__anext__(), 5)
    assert changed == {
        "jsonrpc": "2.0",
        "method": "notifications/tools/list_changed",
        "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": "listen-1"}},
    }
    assert [message for _, message in session.messages_after(0)] == [
        {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    ]
    subscription.close()
    assert len(gateway.engine.subscriptions) == 0


async def test_sessions_left_idle_end_when_another_opens(gateway, monkeypatch):
    monkeypatch.setattr(session_module, "SWEEP_SECONDS", -1)  # look for idle sessions on every open
    registry = gateway.engine.sessions
    idle, busy, streaming, fresh = (registry.open(ANONYMOUS, None) for _ in range(4))
    long_ago = time.monotonic() - session_module.IDLE_SECONDS - 1
    for session in (idle, busy, streaming):
        session.last_used = long_ago
    busy.in_flight[1] = asyncio.get_running_loop().create_future()
    streaming.listeners.add(asyncio.Event())

    newest = registry.open(ANONYMOUS, None)
    assert registry.get(idle.id, ANONYMOUS) is None and idle.closed
    assert {s.id for s in registry} == {busy.id, streaming.id, fresh.id, newest.id}
    busy.in_flight[1].cancel()
