"""Cancellation over Streamable HTTP: a call the client gives up on stops on the gateway too —
by `notifications/cancelled` in the handshake era, by closing the request's connection in 2026."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from forge.hookspecs import hookimpl


class Stuck:
    """A MEMORY tool adapter whose calls wait until cancelled; it records each way a call ends."""

    def __init__(self):
        self.started = threading.Event()
        self.cancelled = threading.Event()

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def invoke(self, tool: Mapping[str, Any], arguments: Mapping[str, Any], invocation=None) -> dict:
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return {"content": [{"type": "text", "text": "finished"}], "isError": False}

    @hookimpl
    def forge_tool_adapters(self, gateway):
        return {"MEMORY": self}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_call_the_client_abandons_is_cancelled_on_the_gateway(start_forge, mode):
    stuck = Stuck()
    forge = start_forge(plugins=[stuck])
    forge.run(forge.gateway.store.create("tools", {"name": "stuck", "integration_type": "MEMORY"}))
    forge.run(forge.gateway.reload_catalog())
    async with Client(streamable_http_client(forge.url + "/mcp"), mode=mode) as client:
        await client.list_tools()
        with pytest.raises((MCPError, TimeoutError)):
            await client.call_tool("stuck", {}, read_timeout_seconds=0.5)
        assert stuck.started.is_set()
        with anyio.fail_after(5):
            while not stuck.cancelled.is_set():
                await anyio.sleep(0.02)
        assert (await client.list_tools()).tools[0].name == "stuck"  # the client carries on
    sessions = list(forge.gateway.engine.sessions)
    assert all(not session.in_flight for session in sessions)
