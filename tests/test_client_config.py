"""Client configurations: `forge client-config` and `GET /servers/{id}/client-config` answer the
JSON an MCP client needs to reach one virtual server, and what they answer works when a real
client is started with it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from forge.cli import build_cli
from forge_plugins.auth_basic_jwt import create_token

pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")

FORGE_STDIO = str(Path(sys.executable).parent / "forge-stdio")
SECRET = "k" * 32
ADMIN = ("admin", "changeme")


def shop(api, upstream: str) -> dict:
    tool = api.post(
        "/tools", json={"name": "get_item", "url": upstream + "/items/{id}", "method": "GET"}
    ).json()
    answer = api.post("/servers", json={"name": "Shop Assistant", "tool_ids": [tool["id"]]})
    assert answer.status_code == 201, answer.text
    return answer.json()


def config_of(api, server_id: str, client: str, **params) -> dict:
    answer = api.get(f"/servers/{server_id}/client-config", params={"for": client, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_each_client_gets_its_own_shape(forge, api, rest_upstream):
    server = shop(api, rest_upstream)
    endpoint = f"{forge.url}/servers/{server['id']}/mcp"
    # AUTH_REQUIRED=false: no credentials to write in.
    assert config_of(api, server["id"], "claude-desktop") == {
        "mcpServers": {"shop-assistant": {"command": "forge-stdio", "args": ["--url", endpoint]}}
    }
    assert config_of(api, server["id"], "vscode") == {
        "servers": {"shop-assistant": {"type": "http", "url": endpoint}}
    }
    assert config_of(api, server["id"], "cursor") == {"mcpServers": {"shop-assistant": {"url": endpoint}}}
    assert config_of(api, server["id"], "generic") == {
        "mcpServers": {"shop-assistant": {"type": "http", "url": endpoint}}
    }
    behind_proxy = config_of(api, server["id"], "cursor", url="https://mcp.example.com/gateway/")
    assert (
        behind_proxy["mcpServers"]["shop-assistant"]["url"]
        == f"https://mcp.example.com/gateway/servers/{server['id']}/mcp"
    )


def test_a_gateway_requiring_auth_gets_token_placeholders(start_forge, rest_upstream):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    with httpx.Client(base_url=forge.url, auth=ADMIN) as api:
        server = shop(api, rest_upstream)
        endpoint = f"{forge.url}/servers/{server['id']}/mcp"
        hint = f"<forge token --scope server:{server['id']}>"
        assert config_of(api, server["id"], "claude-desktop")["mcpServers"]["shop-assistant"] == {
            "command": "forge-stdio",
            "args": ["--url", endpoint],
            "env": {"FORGE_TOKEN": hint},
        }
        assert config_of(api, server["id"], "vscode") == {
            "servers": {
                "shop-assistant": {
                    "type": "http",
                    "url": endpoint,
                    "headers": {"Authorization": "Bearer ${input:forge-token}"},
                }
            },
            "inputs": [
                {
                    "type": "promptString",
                    "id": "forge-token",
                    "description": "Forge token for Shop Assistant",
                    "password": True,
                }
            ],
        }
        for client in ("cursor", "generic"):
            entry = config_of(api, server["id"], client)["mcpServers"]["shop-assistant"]
            assert entry["headers"] == {"Authorization": f"Bearer {hint}"}
        assert httpx.get(f"{forge.url}/servers/{server['id']}/client-config").status_code == 401


def test_unknown_servers_and_clients_are_refused(api):
    missing = api.get("/servers/nope/client-config", params={"for": "vscode"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    answer = api.get("/servers/nope/client-config", params={"for": "emacs"})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_query"


def test_the_cli_writes_the_token_in(forge, api, rest_upstream):
    server = shop(api, rest_upstream)
    endpoint = f"{forge.url}/servers/{server['id']}/mcp"
    command = ["client-config", "--server", server["id"], "--url", forge.url]
    shapes = {
        "claude-desktop": {
            "command": "forge-stdio",
            "args": ["--url", endpoint],
            "env": {"FORGE_TOKEN": "t0k"},
        },
        "vscode": {"type": "http", "url": endpoint, "headers": {"Authorization": "Bearer t0k"}},
        "cursor": {"url": endpoint, "headers": {"Authorization": "Bearer t0k"}},
        "generic": {"type": "http", "url": endpoint, "headers": {"Authorization": "Bearer t0k"}},
    }
    for client, entry in shapes.items():
        result = CliRunner().invoke(build_cli(), [*command, "--for", client, "--token", "t0k"])
        assert result.exit_code == 0, result.output
        key = "servers" if client == "vscode" else "mcpServers"
        assert json.loads(result.output) == {key: {"shop-assistant": entry}}
    without_token = CliRunner().invoke(build_cli(), [*command, "--for", "cursor"])
    assert json.loads(without_token.output) == config_of(api, server["id"], "cursor", url=forge.url)
    missing = CliRunner().invoke(build_cli(), ["client-config", "--server", "nope", "--url", forge.url])
    assert missing.exit_code == 1 and "forge: server 'nope' not found" in missing.output


async def test_claude_desktop_s_config_starts_a_working_stdio_bridge(start_forge, rest_upstream):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    with httpx.Client(base_url=forge.url, auth=ADMIN) as api:
        server = shop(api, rest_upstream)
    token = create_token("desk", SECRET, scopes=[f"server:{server['id']}"])
    result = CliRunner().invoke(
        build_cli(),
        [
            "client-config",
            "--server",
            server["id"],
            "--for",
            "claude-desktop",
            "--url",
            forge.url,
            "--token",
            token,
        ],
        env={"FORGE_TOKEN": create_token("admin", SECRET)},
    )
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output)["mcpServers"]["shop-assistant"]
    assert entry["command"] == "forge-stdio"
    parameters = StdioServerParameters(command=FORGE_STDIO, args=entry["args"], env=entry["env"])
    async with Client(parameters, mode="legacy") as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == ["get_item"]
        answer = await client.call_tool("get_item", {"id": "3"})
    assert json.loads(answer.content[0].text)["path"] == "/items/3"


async def test_vscode_s_config_reaches_the_server_over_streamable_http(start_forge, rest_upstream):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    with httpx.Client(base_url=forge.url, auth=ADMIN) as api:
        server = shop(api, rest_upstream)
        entry = config_of(api, server["id"], "vscode")["servers"]["shop-assistant"]
    token = create_token("code", SECRET, scopes=[f"server:{server['id']}"])
    headers = {name: value.replace("${input:forge-token}", token) for name, value in entry["headers"].items()}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(entry["url"], http_client=http)) as client,
    ):
        assert [tool.name for tool in (await client.list_tools()).tools] == ["get_item"]
