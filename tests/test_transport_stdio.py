"""The stdio bridge (plugin transport_stdio): `forge-stdio --url .../mcp` lets a client that only
speaks stdio use a remote Forge. The official client runs it as it would run a local server; the
bridge survives Forge forgetting the session, and even a restart, without the client noticing.
Then the other direction: `forge-stdio expose` serves a stdio server over HTTP, and a stdio
upstream killed mid-call fails its calls plainly and is restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from forge.cli import build_cli
from forge_plugins.auth_basic_jwt import create_token
from tests.conftest import free_port
from tests.walkthrough import Notifications, catalog, created, settle, walk_through

pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")

BIN = Path(sys.executable).parent
FORGE_STDIO = str(BIN / "forge-stdio")
UPSTREAM = Path(__file__).parent / "federation_upstream.py"  # an SDK-built server; stdio with `stdio`
SECRET = "k" * 32


def through_stdio(url: str, *args: str, **options) -> Client:
    return Client(
        StdioServerParameters(command=FORGE_STDIO, args=["--url", url, *args]), mode="legacy", **options
    )


def sessions(forge) -> int:
    return len(forge.gateway.engine.sessions)


async def test_the_official_client_works_through_forge_stdio(forge, api, rest_upstream):
    stored = catalog(api, rest_upstream)
    notes = Notifications()
    async with through_stdio(forge.url + "/mcp", message_handler=notes) as client:
        assert sessions(forge) == 1
        await walk_through(client, notes, api, stored)
    assert await settle(lambda: sessions(forge) == 0)  # the bridge deleted its session on the way out


async def test_a_token_opens_a_virtual_server(start_forge, rest_upstream):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    admin = {"authorization": f"Bearer {create_token('admin', SECRET)}"}
    with httpx.Client(base_url=forge.url, headers=admin) as api:
        stored = catalog(api, rest_upstream)
        server = created(api.post("/servers", json={"name": "desk", "tool_ids": [stored["tool"]["id"]]}))
    url = f"{forge.url}/servers/{server['id']}/mcp"
    token = create_token("ada", SECRET, scopes=[f"server:{server['id']}"])
    async with through_stdio(url, "--token", token) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == ["echo"]
        assert not (await client.call_tool("echo", {"id": "1"})).is_error
    with pytest.raises(BaseExceptionGroup) as refused:
        async with through_stdio(url):
            pass
    assert refused.group_contains(MCPError, match="authentication required")


async def test_a_forgotten_session_is_replaced_without_the_client_noticing(forge, api, rest_upstream):
    stored = catalog(api, rest_upstream)
    notes = Notifications()
    async with through_stdio(forge.url + "/mcp", message_handler=notes) as client:
        await client.subscribe_resource("docs://readme")
        (first,) = list(forge.gateway.engine.sessions)
        forge.run(forge.gateway.engine.sessions.close_all())

        assert not (await client.call_tool("echo", {"id": "2"})).is_error
        (second,) = list(forge.gateway.engine.sessions)
        assert second.id != first.id and second.subscriptions == {"docs://readme"}
        api.put(f"/resources/{stored['resource']['id']}", json={"content": "# New"}).raise_for_status()
        await notes.wait_for("notifications/resources/updated")


async def test_a_restarted_gateway_is_reconnected(start_forge, rest_upstream):
    forge = start_forge()
    with httpx.Client(base_url=forge.url) as api:
        catalog(api, rest_upstream)
    async with through_stdio(forge.url + "/mcp") as client:
        assert not (await client.call_tool("echo", {"id": "3"})).is_error
        forge.stop()
        again = start_forge(port=forge.port)  # same port, same database
        result = await client.call_tool("echo", {"id": "4"})
        assert not result.is_error
        assert '"path": "/echo/4"' in result.content[0].text
        assert sessions(again) == 1


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "sh", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def test_only_json_rpc_reaches_stdout(forge):
    lines = [
        INITIALIZE,
        INITIALIZED,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        "this is not json",
        {"jsonrpc": "2.0", "id": 3, "method": "no/such/method"},
    ]
    given = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "forge_plugins.transport_stdio",
            "--url",
            forge.url + "/mcp",
            "--log-level",
            "debug",
        ],
        input=given.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]  # every line is a message
    by_id = {answer["id"]: answer for answer in answers}
    assert sorted(by_id, key=str) == [1, 2, 3, None]
    assert by_id[1]["result"]["protocolVersion"] == "2025-06-18"
    assert by_id[2]["result"] == {"tools": []}
    assert by_id[3]["error"]["code"] == -32601
    assert by_id[None]["error"]["code"] == -32700
    assert sessions(forge) == 0


def test_an_unreachable_forge_is_an_error_answer_after_the_retries():
    url = f"http://127.0.0.1:{free_port()}/mcp"
    done = subprocess.run(
        [FORGE_STDIO, "--url", url, "--retry-seconds", "2"],
        input=json.dumps(INITIALIZE).encode() + b"\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    (answer,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert answer["id"] == 1
    assert answer["error"]["message"].startswith(f"Forge at {url} is unreachable")
    assert b"cannot reach Forge" in done.stderr


def test_sigterm_ends_the_bridge_and_its_session(forge):
    bridge = subprocess.Popen(
        [FORGE_STDIO, "--url", forge.url + "/mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    bridge.stdin.write(f"{json.dumps(INITIALIZE)}\n{json.dumps(INITIALIZED)}\n".encode())
    bridge.stdin.flush()
    assert json.loads(bridge.stdout.readline())["id"] == 1
    assert sessions(forge) == 1
    bridge.send_signal(signal.SIGTERM)
    assert bridge.wait(10) == 0
    assert sessions(forge) == 0
    bridge.stdin.close()
    bridge.stdout.close()


def test_the_bridge_is_also_a_forge_command_unless_disabled(monkeypatch):
    shown = CliRunner().invoke(build_cli(), ["stdio", "--help"])
    assert shown.exit_code == 0 and "--url" in shown.output
    monkeypatch.setenv("PLUGINS_DISABLED", "transport_stdio")
    hidden = CliRunner().invoke(build_cli(), ["stdio", "--help"])
    assert hidden.exit_code == 2 and "No such command 'stdio'" in hidden.output


# --- forge-stdio expose: a stdio server served over HTTP -------------------------------------------


@pytest.fixture
def exposed(tmp_path):
    """`forge-stdio expose` serving the tests' SDK-built stdio server as "solo"; its base URL."""
    port = free_port()
    command = f"{sys.executable} {UPSTREAM} stdio --name solo"
    with open(tmp_path / "expose.log", "wb") as log:
        process = subprocess.Popen(
            [FORGE_STDIO, "expose", "--cmd", command, "--port", str(port), "--name", "solo"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            assert process.poll() is None, (tmp_path / "expose.log").read_text()
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("forge-stdio expose did not answer /health within 60 s")
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)


async def test_expose_serves_a_stdio_server_over_streamable_http_and_sse_and_nothing_else(exposed):
    _, url = exposed
    async with Client(streamable_http_client(url + "/mcp"), cache=None) as client:
        # It answers once the command has started: its names as it gave them, unprefixed.
        assert (await client.call_tool("echo", {"text": "hi"})).content[0].text == "solo: hi"
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {"echo", "whoami", "count"} <= tools
        prompt = await client.get_prompt("greet", {"who": "Ada"})
        assert prompt.messages[0].content.text == "solo greets Ada"
        read = await client.read_resource("mem://solo/greeting")
        assert read.contents[0].text == "hello from solo"
        progress = []

        async def on_progress(value, total, message):
            progress.append(value)

        counted = await client.call_tool("count", {"n": 2}, progress_callback=on_progress)
        assert (counted.content[0].text, progress) == ("counted to 2", [1, 2])
    async with Client(sse_client(url + "/sse"), mode="legacy") as client:
        assert (await client.call_tool("echo", {"text": "sse"})).content[0].text == "solo: sse"
    # No management API: nobody can register another command through it.
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for path in ("/gateways", "/tools", "/admin", "/docs"):
            answer = await http.get(path)
            assert (answer.status_code, "serves only" in answer.json()["error"]) == (404, True), path
        gateway = {"name": "x", "url": "sh -c id", "transport": "stdio"}
        assert (await http.post("/gateways", json=gateway)).status_code == 404


async def test_sigterm_ends_expose_and_its_server(exposed):
    process, url = exposed
    async with Client(streamable_http_client(url + "/mcp"), cache=None) as client:
        server_pid = int((await client.call_tool("whoami", {})).content[0].text.split()[1])
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    assert await settle(lambda: not alive(server_pid), timeout=10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- a stdio upstream that dies mid-call ----------------------------------------------------------


def _rpc(url: str, method: str, params: dict, timeout: float = 90) -> dict:
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return httpx.post(url + "/rpc", json=message, timeout=timeout).json()


def _failure(answer: dict) -> str | None:
    """The error message of a tools/call answer (a JSON-RPC error or an isError result), else None."""
    if "error" in answer:
        return answer["error"]["message"]
    result = answer["result"]
    return result["content"][0]["text"] if result.get("isError") else None


async def test_a_stdio_upstream_killed_mid_call_fails_plainly_and_is_restarted(
    start_forge, tmp_path, monkeypatch
):
    monkeypatch.setenv("FEDERATION_HEALTH_INTERVAL", "2")  # also caps the reconnect backoff
    forge = start_forge()
    # The upstream refuses to start while the file `down` exists: the test decides when it may return.
    down = tmp_path / "down"
    launcher = tmp_path / "launcher.py"
    launcher.write_text(
        "import os, sys\n"
        f"if os.path.exists({str(down)!r}):\n"
        "    sys.exit('not starting: told to stay down')\n"
        f"os.execv(sys.executable, [sys.executable, {str(UPSTREAM)!r}, 'stdio', '--name', 'gamma'])\n"
    )
    with httpx.Client(base_url=forge.url, timeout=60) as api:
        created = api.post(
            "/gateways", json={"name": "gamma", "url": f"{sys.executable} {launcher}", "transport": "stdio"}
        )
        assert created.status_code == 201, created.text
        assert api.get(f"/gateways/{created.json()['id']}").json()["state"] == "healthy"
    first = _pid(_rpc(forge.url, "tools/call", WHOAMI))

    slow = {"name": "gamma.slow", "arguments": {"seconds": 60}}
    in_flight = asyncio.create_task(asyncio.to_thread(_rpc, forge.url, "tools/call", slow))
    await asyncio.sleep(1)  # the call is on its way; killed before or after it arrives, it must fail
    down.touch()
    os.kill(first, signal.SIGKILL)
    failed = _failure(await asyncio.wait_for(in_flight, 60))
    assert failed is not None and "upstream 'gamma'" in failed, failed
    assert "did not answer" not in failed  # it failed because the process died, not by timing out

    # While it cannot start, calls say so, naming it (not "Unknown tool").
    later = _failure(await asyncio.to_thread(_rpc, forge.url, "tools/call", WHOAMI))
    assert later is not None and "upstream 'gamma' is" in later, later

    down.unlink()  # now a restart (with backoff) succeeds
    deadline = time.monotonic() + 60
    while _failure(answer := await asyncio.to_thread(_rpc, forge.url, "tools/call", WHOAMI)):
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.2)
    assert _pid(answer) != first


WHOAMI = {"name": "gamma.whoami", "arguments": {}}


def _pid(answer: dict) -> int:
    return int(answer["result"]["content"][0]["text"].split()[1])
