"""The stdio bridge (plugin transport_stdio): `forge-stdio --url .../mcp` lets a client that only
speaks stdio use a remote Forge. The official client runs it as it would run a local server; the
bridge survives Forge forgetting the session, and even a restart, without the client noticing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from mcp import Client, MCPError, StdioServerParameters

from forge.cli import build_cli
from forge_plugins.auth_basic_jwt import create_token
from tests.conftest import free_port
from tests.walkthrough import Notifications, catalog, created, settle, walk_through

pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")

BIN = Path(sys.executable).parent
FORGE_STDIO = str(BIN / "forge-stdio")
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
        [FORGE_STDIO, "--url", url, "--retry-seconds", "0.5"],
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
