"""Real clients with real credentials: the official MCP SDK connects with a bearer token, and the
README's token command works exactly as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from forge_plugins.auth_basic_jwt import create_token

SECRET = "clients-test-secret-" + "x" * 44
README = Path(__file__).parent.parent / "README.md"


@pytest.fixture
def gateway_with_two_servers(start_forge, rest_upstream):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    admin = {"authorization": f"Bearer {create_token('admin', SECRET)}"}
    with httpx.Client(base_url=forge.url, headers=admin, timeout=30) as api:
        echo = api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).json()
        clock = api.post("/tools", json={"name": "clock", "url": rest_upstream + "/echo"}).json()
        forge.desk = api.post("/servers", json={"name": "desk", "tool_ids": [echo["id"]]}).json()["id"]
        forge.lab = api.post("/servers", json={"name": "lab", "tool_ids": [clock["id"]]}).json()["id"]
    return forge


async def tool_names(url: str, token: str | None, mode: str = "auto") -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = create_mcp_http_client(headers=headers)
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        names = sorted(tool.name for tool in (await client.list_tools()).tools)
        if names:
            assert not (await client.call_tool(names[0], {})).is_error
        return names


async def refusal(url: str, token: str | None) -> MCPError:
    """The MCPError the SDK raises (inside its task groups' exception groups) when refused."""
    try:
        await tool_names(url, token, mode="legacy")
    except BaseExceptionGroup as group:
        errors = [error for error in _leaves(group) if isinstance(error, MCPError)]
        if not errors:
            raise
        return errors[0]
    except MCPError as error:
        return error
    raise AssertionError(f"{url} let the client in")


def _leaves(error: BaseException):
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_sdk_connects_with_a_token_to_mcp_and_to_the_server_it_is_scoped_to(
    gateway_with_two_servers, mode
):
    forge = gateway_with_two_servers
    reader = create_token("ada", SECRET, scopes=["read"])
    assert await tool_names(forge.url + "/mcp", reader, mode) == ["clock", "echo"]
    desk_bot = create_token("desk-bot", SECRET, scopes=[f"server:{forge.desk}"])
    assert await tool_names(f"{forge.url}/servers/{forge.desk}/mcp", desk_bot, mode) == ["echo"]


async def test_the_sdk_is_refused_where_its_token_does_not_reach(gateway_with_two_servers):
    forge = gateway_with_two_servers
    desk_bot = create_token("desk-bot", SECRET, scopes=[f"server:{forge.desk}"])
    refusals = {
        f"{forge.url}/servers/{forge.lab}/mcp": (desk_bot, f"'desk-bot' may not mcp server:{forge.lab}"),
        f"{forge.url}/mcp": (desk_bot, "'desk-bot' may not mcp mcp:all"),
        f"{forge.url}/servers/{forge.desk}/mcp": (None, "authentication required"),
    }
    for url, (token, message) in refusals.items():
        assert (await refusal(url, token)).message == message
    async with httpx.AsyncClient() as http:  # what the SDK was told, on the wire
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25"},
        }
        accept = {"accept": "application/json, text/event-stream"}
        refused = await http.post(
            f"{forge.url}/servers/{forge.lab}/mcp",
            json=initialize,
            headers={**accept, "authorization": f"Bearer {desk_bot}"},
        )
        assert refused.status_code == 403
        anonymous = await http.post(f"{forge.url}/servers/{forge.desk}/mcp", json=initialize, headers=accept)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer resource_metadata=")


def readme_token_command() -> list[str]:
    """The README's token command, as a user would paste it (the venv's python put first)."""
    found = re.search(
        r"\$\((\.venv/bin/python -m forge_plugins\.auth_basic_jwt\.create_token [^)]*)\)", README.read_text()
    )
    assert found, "the README no longer shows the token command"
    words = shlex.split(found.group(1))
    assert words[1:] == [
        "-m", "forge_plugins.auth_basic_jwt.create_token", "--username", "admin", "--exp", "10080",
        "--secret", "my-test-key",
    ]  # fmt: skip
    return [sys.executable, *words[1:]]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the README's short example key
def test_the_readme_token_command_makes_a_token_the_gateway_accepts(start_forge, tmp_path):
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("JWT_", "AUTH_", "TOKEN_"))
    }
    made = subprocess.run(
        readme_token_command(), capture_output=True, text=True, env=env, cwd=tmp_path, check=False, timeout=60
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()

    forge = start_forge(auth_required=True)  # JWT_SECRET_KEY's default is the README's my-test-key
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    prompt = {
        "name": "greet",
        "template": "Hello, {{ user }}!",
        "argument_schema": {
            "type": "object",
            "properties": {"user": {"type": "string"}},
            "required": ["user"],
        },
    }
    assert httpx.post(forge.url + "/prompts", json=prompt, headers=bearer).status_code == 201
    rendered = httpx.post(
        forge.url + "/rpc",
        headers=bearer,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "prompts/get",
            "params": {"name": "greet", "arguments": {"user": "Alice"}},
        },
    ).json()
    assert rendered["result"]["messages"][0]["content"]["text"] == "Hello, Alice!"
