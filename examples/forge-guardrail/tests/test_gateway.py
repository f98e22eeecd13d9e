"""The guardrail installed next to Forge: a REST tool's answer reaches the MCP client redacted.

The gateway runs in-process (its ASGI lifespan driven as a server would); the REST API behind the
tool is a small HTTP server on a loopback port that answers a fixed customer record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from forge.app import create_app
from forge.plugins import build_plugin_manager, describe_plugins
from forge.settings import Settings

CUSTOMER = {
    "name": "Alice",
    "email": "alice@example.com",
    "card": "4111 1111 1111 1111",
    "order": "4111 1111 1111 1112",
}


class CustomerApi(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(CUSTOMER).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def customer_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CustomerApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/customer"
    server.shutdown()


@contextlib.asynccontextmanager
async def running(app):
    """Start `app` through the ASGI lifespan protocol, and stop it on the way out."""
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started.get("message")
    try:
        yield httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forge")
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


def test_forge_loads_the_guardrail_through_its_entry_point():
    loaded = {plugin["name"]: plugin for plugin in describe_plugins(build_plugin_manager())}
    assert loaded["guardrail"]["distribution"] == "forge-guardrail"
    assert loaded["guardrail"]["hooks"] == ["forge_after_tool_call"]


def test_a_tool_result_reaches_the_client_redacted(tmp_path, customer_api):
    settings = Settings(
        _env_file=None, auth_required=False, database_url=f"sqlite:///{tmp_path / 'forge.db'}",
        outbound_allow=["127.0.0.1"],  # the customer API listens on loopback
    )

    async def scenario():
        async with running(create_app(settings)) as client, client:
            tool = {"name": "customer", "url": customer_api, "method": "GET"}
            assert (await client.post("/tools", json=tool)).status_code == 201
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "customer"}}
            return (await client.post("/rpc", json=call)).json()["result"]

    result = asyncio.run(scenario())
    assert json.loads(result["content"][0]["text"]) == {
        "name": "Alice",
        "email": "[email redacted]",
        "card": "[card redacted]",
        "order": "4111 1111 1111 1112",
    }
