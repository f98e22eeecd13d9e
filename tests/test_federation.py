"""Federation: an upstream MCP server or another Forge registered as a gateway lends Forge its
tools, prompts and resources. Real upstreams (tests/federation_upstream.py, built with the
official SDK) run as processes on loopback; Forges run in threads; clients are the official SDK's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import eventually, free_port

pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")
HERE = Path(__file__).parent
UPSTREAM = HERE / "federation_upstream.py"


class UpstreamProcess:
    """tests/federation_upstream.py serving HTTP on a fixed port (restartable there)."""

    def __init__(self, name: str, transport: str = "http", *options: str):
        self.name = name
        self.transport = transport
        self.options = options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/{'sse' if transport == 'sse' else 'mcp'}"
        self.process: subprocess.Popen | None = None

    def start(self) -> UpstreamProcess:
        command = [
            sys.executable,
            str(UPSTREAM),
            self.transport,
            "--port",
            str(self.port),
            "--name",
            self.name,
        ]
        command += self.options
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self
            assert self.process.poll() is None, f"upstream {self.name} exited"
            time.sleep(0.1)
        raise RuntimeError(f"upstream {self.name} did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def upstream():
    started: list[UpstreamProcess] = []

    def start(name: str, transport: str = "http", *options: str) -> UpstreamProcess:
        started.append(UpstreamProcess(name, transport, *options).start())
        return started[-1]

    yield start
    for process in started:
        process.stop()


def separate(start_forge, tmp_path, name: str, **settings):
    """Another Forge with a database of its own (start_forge's share one by default)."""
    return start_forge(database_url=f"sqlite:///{tmp_path / name}.db", **settings)


def connect(forge, mode: str = "auto", **options) -> Client:
    return Client(streamable_http_client(forge.url + "/mcp"), mode=mode, cache=None, **options)


def register(forge, **gateway) -> dict:
    """POST /gateways (the answer comes once the first connection attempt is over), then its state."""
    with httpx.Client(base_url=forge.url, timeout=60) as api:
        created = api.post("/gateways", json=gateway)
        assert created.status_code == 201, created.text
        return api.get(f"/gateways/{created.json()['id']}").json()


def gateway_state(forge, gateway_id: str) -> dict:
    return httpx.get(f"{forge.url}/gateways/{gateway_id}", timeout=30).json()


def tool_names(forge) -> list[str]:
    answer = httpx.post(
        forge.url + "/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30
    ).json()
    return sorted(tool["name"] for tool in answer["result"]["tools"])


def call(forge, name: str, arguments: dict | None = None, timeout: float = 60) -> dict:
    """tools/call over plain JSON-RPC: the result, or the JSON-RPC error object."""
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments or {}},
    }
    answer = httpx.post(forge.url + "/rpc", json=message, timeout=timeout).json()
    return answer.get("result") or {"error": answer["error"]}


def text(result: dict) -> str:
    return result["content"][0]["text"]


# --- registration and import ---------------------------------------------------------------------


async def test_an_upstream_lends_its_tools_prompts_and_resources_under_its_name(forge, upstream):
    alpha = upstream("alpha")
    record = register(forge, name="alpha", url=alpha.url)
    assert record["state"] == "healthy" and record["last_error"] is None
    assert record["last_seen"] and record["latency_ms"] is not None
    assert record["capabilities"]["protocolVersion"] == "2026-07-28"
    assert record["capabilities"]["serverInfo"]["name"] == "upstream-alpha"

    async with connect(forge) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"alpha.echo", "alpha.whoami", "alpha.slow"} <= set(tools)
        assert tools["alpha.echo"].description == "Answers its text, naming the upstream"
        assert tools["alpha.echo"].input_schema["required"] == ["text"]
        result = await client.call_tool("alpha.echo", {"text": "hi"})
        assert (result.is_error, result.content[0].text) == (False, "alpha: hi")
        prompt = await client.get_prompt("alpha.greet", {"who": "Ada"})
        assert prompt.messages[0].content.text == "alpha greets Ada"
        read = await client.read_resource("mem://alpha/greeting")
        assert read.contents[0].text == "hello from alpha"

    with httpx.Client(base_url=forge.url) as api:
        (echo,) = [
            t
            for t in api.get("/tools", params={"gateway_id": record["id"]}).json()["items"]
            if t["original_name"] == "echo"
        ]
        assert (echo["name"], echo["integration_type"]) == ("alpha.echo", "MCP")
        assert echo["input_schema"]["properties"]["text"]["type"] == "string"


def test_a_restarted_forge_reconnects_its_gateways(start_forge, upstream):
    forge = start_forge()
    register(forge, name="alpha", url=upstream("alpha").url)
    forge.stop()
    again = start_forge(port=forge.port)  # same database: the gateway and what it lent are there
    expected = [{"type": "text", "text": "alpha: back"}]
    assert eventually(lambda: call(again, "alpha.echo", {"text": "back"}).get("content") == expected)


def test_two_upstreams_sharing_a_tool_name_never_collide(forge, upstream):
    alpha, beta = upstream("alpha"), upstream("beta")
    register(forge, name="alpha", url=alpha.url, prefix="")
    register(forge, name="beta", url=beta.url, prefix="")
    names = tool_names(forge)
    # The first keeps the bare name; the second falls back to its gateway's name as a prefix.
    assert "echo" in names and "beta.echo" in names
    assert text(call(forge, "echo", {"text": "x"})) == "alpha: x"
    assert text(call(forge, "beta.echo", {"text": "x"})) == "beta: x"


def test_an_unreachable_upstream_is_stored_unhealthy_not_refused(forge):
    record = register(forge, name="nowhere", url=f"http://127.0.0.1:{free_port()}/mcp")
    assert record["state"] == "unhealthy"
    assert "Connect" in record["last_error"]
    socket_url = f"ws://127.0.0.1:{free_port()}/ws"
    socket_gateway = register(forge, name="socket", url=socket_url, transport="websocket")
    assert socket_gateway["state"] == "unhealthy"
    assert "Connect call failed" in socket_gateway["last_error"]


def test_deleting_a_gateway_takes_its_entities_and_its_connection(forge, upstream):
    record = register(forge, name="alpha", url=upstream("alpha").url)
    assert "alpha.echo" in tool_names(forge)
    httpx.delete(f"{forge.url}/gateways/{record['id']}").raise_for_status()
    assert tool_names(forge) == []
    assert forge.gateway.upstream_connectors  # still installed, but nothing is connected
    assert _federation(forge).upstreams == {}


def test_a_stdio_upstream_is_started_restarted_when_it_dies_and_ended_with_forge(start_forge):
    forge = start_forge()
    command = f"{sys.executable} {UPSTREAM} stdio --name gamma"
    record = register(forge, name="gamma", url=command, transport="stdio")
    assert record["state"] == "healthy", record["last_error"]
    first = int(text(call(forge, "gamma.whoami")).split()[1])
    os.kill(first, signal.SIGKILL)
    second = eventually(lambda: _pid_from(call(forge, "gamma.whoami", timeout=10)), timeout=30)
    assert second != first
    forge.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


async def test_a_handshake_era_upstream_is_spoken_to_in_its_era_with_its_requests_relayed(forge, upstream):
    record = register(forge, name="old", url=upstream("old", "http", "--handshake-only").url)
    assert (record["state"], record["capabilities"]["protocolVersion"]) == ("healthy", "2025-11-25")
    progress, logs = [], []

    async def on_progress(value, total, message):
        progress.append(value)

    async def on_log(params):
        logs.append(params.data)

    async def elicit(context, params):
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with connect(forge, "legacy", logging_callback=on_log, elicitation_callback=elicit) as client:
        counted = await client.call_tool("old.count", {"n": 3}, progress_callback=on_progress)
        assert counted.content[0].text == "counted to 3"
        assert (progress, logs) == ([1, 2, 3], ["step 1", "step 2", "step 3"])
        asked = await client.call_tool("old.ask_name", {})
        assert asked.content[0].text == "hello Ada"
    async with connect(forge, "auto", elicitation_callback=elicit) as client:
        assert (await client.call_tool("old.echo", {"text": "new client"})).content[
            0
        ].text == "old: new client"
        # The upstream's question mid-call reaches a 2026-07-28 client as an input_required round.
        assert (await client.call_tool("old.ask_name", {})).content[0].text == "hello Ada"


async def test_an_sse_upstream_is_connected_over_its_event_stream(forge, upstream):
    record = register(forge, name="legacy", url=upstream("legacy", "sse").url, transport="sse")
    assert record["state"] == "healthy", record["last_error"]
    assert text(call(forge, "legacy.echo", {"text": "over sse"})) == "legacy: over sse"

    async def elicit(context, params):
        return types.ElicitResult(action="accept", content={"name": "Sam"})

    for mode in ("legacy", "auto"):  # its ctx.elicit() reaches clients of both eras
        async with connect(forge, mode, elicitation_callback=elicit) as client:
            assert (await client.call_tool("legacy.ask_name", {})).content[0].text == "hello Sam"


def _pid_from(result: dict) -> int | None:
    return None if result.get("isError") or "error" in result else int(text(result).split()[1])


# --- three Forges, and loops ---------------------------------------------------------------------


async def test_a_client_of_a_reaches_tools_two_hops_away_through_b_and_c(start_forge, tmp_path, upstream):
    a, b, c = (separate(start_forge, tmp_path, name) for name in "abc")
    register(c, name="alpha", url=upstream("alpha").url)
    register(b, name="c", url=c.url + "/mcp")
    register(b, name="beta", url=upstream("beta").url)
    register(a, name="b", url=b.url + "/mcp")
    async with connect(a) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"b.c.alpha.echo", "b.beta.echo"} <= names
        far = await client.call_tool("b.c.alpha.echo", {"text": "two hops"})
        near = await client.call_tool("b.beta.echo", {"text": "one hop"})
        assert (far.content[0].text, near.content[0].text) == ("alpha: two hops", "beta: one hop")


def test_a_cycle_between_two_forges_imports_each_side_once(start_forge, tmp_path, rest_upstream):
    a, b = (separate(start_forge, tmp_path, name, federation_sync_interval=1) for name in "ab")
    httpx.post(a.url + "/tools", json={"name": "clock", "url": rest_upstream + "/clock"}).raise_for_status()
    httpx.post(b.url + "/tools", json={"name": "bell", "url": rest_upstream + "/bell"}).raise_for_status()
    started = time.monotonic()
    register(a, name="b", url=b.url + "/mcp")
    register(b, name="a", url=a.url + "/mcp")
    assert time.monotonic() - started < 30
    time.sleep(3)  # a few syncs on both sides: what came from a never goes back to a
    assert tool_names(a) == ["b.bell", "clock"]
    assert tool_names(b) == ["a.clock", "bell"]
    assert text(call(a, "b.bell")) and not call(a, "b.bell").get("isError")


def test_a_gateway_that_leads_back_to_forge_itself_is_refused(forge):
    record = register(forge, name="me", url=forge.url + "/mcp")
    assert record["state"] == "unhealthy"
    assert "leads back to this Forge" in record["last_error"]
    assert tool_names(forge) == []


def test_peers_from_settings_are_registered_at_start(start_forge, tmp_path, upstream):
    b = separate(start_forge, tmp_path, "b")
    register(b, name="alpha", url=upstream("alpha").url)
    a = separate(start_forge, tmp_path, "a", federation_peers=[b.url])
    (peer,) = httpx.get(a.url + "/gateways").json()["items"]
    assert peer["url"] == b.url + "/mcp"
    assert eventually(lambda: f"{peer['name']}.alpha.echo" in tool_names(a))


def test_with_federation_disabled_nothing_is_registered(start_forge, upstream):
    forge = start_forge(federation_enabled=False)
    assert "MCP" not in forge.gateway.adapters and not forge.gateway.upstream_connectors
    assert "federation" not in [panel.id for panel in forge.gateway.admin_panels]
    record = register(forge, name="alpha", url=upstream("alpha").url)
    assert record["state"] == "unknown" and tool_names(forge) == []


# --- health and sync -----------------------------------------------------------------------------


class Heard:
    """A message_handler recording the server notifications a client receives."""

    def __init__(self):
        self.methods: list[str] = []

    async def __call__(self, message) -> None:
        if not isinstance(message, Exception):
            self.methods.append(message.method)

    async def wait_for(self, method: str, after: int = 0, timeout: float = 15) -> None:
        with anyio.fail_after(timeout):
            while method not in self.methods[after:]:
                await anyio.sleep(0.05)


async def test_a_stopped_upstream_leaves_the_list_and_comes_back_with_it(start_forge, upstream, monkeypatch):
    monkeypatch.setenv("FEDERATION_HEALTH_INTERVAL", "1")
    forge = start_forge()
    alpha = upstream("alpha")
    record = register(forge, name="alpha", url=alpha.url)
    heard = Heard()
    async with connect(forge, "legacy", message_handler=heard) as client:
        assert "alpha.echo" in {tool.name for tool in (await client.list_tools()).tools}
        alpha.stop()
        stopped = time.monotonic()
        await heard.wait_for("notifications/tools/list_changed")
        assert time.monotonic() - stopped < 2 * 1 + 3  # two health intervals, and slack for a busy machine
        assert gateway_state(forge, record["id"])["state"] == "unhealthy"
        assert not any(tool.name.startswith("alpha.") for tool in (await client.list_tools()).tools)
        seen = len(heard.methods)
        alpha.start()
        await heard.wait_for("notifications/tools/list_changed", after=seen, timeout=30)
        assert "alpha.echo" in {tool.name for tool in (await client.list_tools()).tools}
        assert gateway_state(forge, record["id"])["state"] == "healthy"


async def test_a_tool_added_or_removed_upstream_follows_its_list_changed(forge, upstream):
    register(forge, name="alpha", url=upstream("alpha").url)
    async with connect(forge) as client, client.listen(tools_list_changed=True) as changes:
        await client.call_tool("alpha.grow", {})
        with anyio.fail_after(15):
            await changes.__anext__()
        assert "alpha.extra" in {tool.name for tool in (await client.list_tools()).tools}
        assert (await client.call_tool("alpha.extra", {})).content[0].text == "extra"
        await client.call_tool("alpha.shrink", {})
        with anyio.fail_after(15):
            await changes.__anext__()
        assert "alpha.extra" not in {tool.name for tool in (await client.list_tools()).tools}


def test_a_tool_added_silently_upstream_appears_at_the_next_sync(start_forge, upstream):
    forge = start_forge(federation_sync_interval=1)
    register(forge, name="alpha", url=upstream("alpha").url)
    assert not call(forge, "alpha.grow_quietly").get("isError")
    assert "alpha.quiet" not in tool_names(forge)  # the upstream said nothing
    eventually(lambda: "alpha.quiet" in tool_names(forge), timeout=10)


# --- timeouts and the circuit breaker ------------------------------------------------------------


async def test_a_slow_upstream_times_out_clearly_without_slowing_another(start_forge, upstream):
    forge = start_forge(federation_timeout=2)
    register(forge, name="alpha", url=upstream("alpha").url)
    register(forge, name="beta", url=upstream("beta").url)
    finished: list[tuple[str, float]] = []

    async def timed(client, name, arguments):
        started = time.monotonic()
        result = await client.call_tool(name, arguments)
        finished.append((name, time.monotonic() - started))
        return result

    async with connect(forge) as slow_client, connect(forge) as fast_client:
        await slow_client.list_tools()
        await fast_client.list_tools()
        slow, fast = await asyncio.gather(
            timed(slow_client, "alpha.slow", {"seconds": 20}),
            timed(fast_client, "beta.echo", {"text": "quick"}),
        )
    assert fast.content[0].text == "beta: quick" and not fast.is_error
    assert slow.is_error
    assert slow.content[0].text == "upstream 'alpha' did not answer tools/call within 2 s"
    assert [name for name, _ in finished] == ["beta.echo", "alpha.slow"]
    seconds = dict(finished)  # measured; only bounds a busy machine cannot break are asserted
    assert seconds["beta.echo"] < seconds["alpha.slow"] and 2 <= seconds["alpha.slow"] < 15


def test_an_upstream_failing_repeatedly_is_not_called_until_its_circuit_half_opens(
    start_forge, upstream, monkeypatch
):
    monkeypatch.setenv("FEDERATION_BREAKER_THRESHOLD", "2")
    monkeypatch.setenv("FEDERATION_BREAKER_RESET", "3")
    forge = start_forge(federation_timeout=1)
    register(forge, name="alpha", url=upstream("alpha").url)
    for _ in range(2):
        assert "did not answer" in text(call(forge, "alpha.slow", {"seconds": 5}))
    refused = text(call(forge, "alpha.echo", {"text": "x"}))  # refused here: the upstream is not asked
    assert refused.startswith("upstream 'alpha' is not being called: failed 2 times in a row")
    time.sleep(3.2)  # half-open: one call may try, and its success closes the circuit
    assert text(call(forge, "alpha.echo", {"text": "x"})) == "alpha: x"
    assert text(call(forge, "alpha.echo", {"text": "y"})) == "alpha: y"


# --- the admin panel -----------------------------------------------------------------------------


def test_the_admin_panel_lists_gateways_with_their_health_escaped(forge, upstream):
    register(forge, name="alpha", url=upstream("alpha").url)
    register(forge, name="<b>bad</b>", url=f"http://127.0.0.1:{free_port()}/mcp")
    assert "federation" in [panel.id for panel in forge.gateway.admin_panels]
    from forge_plugins.federation.panel import fragment

    for _ in range(100):  # the import may still be landing on a loaded machine: wait, bounded
        page = forge.run(fragment(_federation(forge)))
        if "10 tools" in page:
            break
        time.sleep(0.1)
    assert '<tr data-state="healthy"><td>alpha</td>' in page
    assert "&lt;b&gt;bad&lt;/b&gt;" in page and "<b>bad" not in page
    assert "10 tools, 1 prompts, 1 resources" in page
    assert _federation(forge).instance_id in page


def _federation(forge):
    from forge_plugins.federation import federation_of

    return federation_of(forge.gateway)
