"""Prompts over MCP: a Jinja template stored through the management API, rendered by prompts/get,
and its arguments completed by completion/complete, in both protocol eras."""

from __future__ import annotations

import pytest
from mcp import Client, MCPError, types
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.parametrize("mode", ["legacy", "auto"])

GREET = {
    "name": "greet",
    "description": "Say hello",
    "template": "Hello, {{ user }}!",
    "argument_schema": {
        "type": "object",
        "properties": {"user": {"type": "string", "description": "Who to greet"}},
        "required": ["user"],
    },
}


def connect(forge, mode: str) -> Client:
    return Client(streamable_http_client(forge.url + "/mcp"), mode=mode)


def add_prompt(api, **fields) -> dict:
    answer = api.post("/prompts", json=fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_a_stored_prompt_is_listed_and_rendered(forge, api, mode):
    add_prompt(api, **GREET)
    async with connect(forge, mode) as client:
        (prompt,) = (await client.list_prompts()).prompts
        assert prompt.name == "greet"
        assert prompt.description == "Say hello"
        assert [(a.name, a.required, a.description) for a in prompt.arguments] == [
            ("user", True, "Who to greet")
        ]
        answer = await client.get_prompt("greet", {"user": "Alice"})
    assert answer.description == "Say hello"
    (message,) = answer.messages
    assert message.role == "user"
    assert message.content.text == "Hello, Alice!"


async def test_a_missing_argument_is_invalid_params(forge, api, mode):
    add_prompt(api, **GREET)
    async with connect(forge, mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("greet", {})
    assert raised.value.error.code == -32602
    assert "'user' is a required property" in raised.value.error.message


async def test_an_unknown_prompt_is_invalid_params(forge, api, mode):
    async with connect(forge, mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("nope", {"user": "x"})
    assert raised.value.error.code == -32602
    assert "nope" in raised.value.error.message


async def test_prompt_arguments_complete_from_their_enum(forge, api, mode):
    add_prompt(
        api,
        name="styled",
        template="{{ style }} hello to {{ user }}",
        argument_schema={
            "type": "object",
            "properties": {
                "style": {"type": "string", "enum": ["formal", "friendly", "funny", "terse"]},
                "user": {"type": "string"},
            },
        },
    )
    ref = types.PromptReference(type="ref/prompt", name="styled")
    async with connect(forge, mode) as client:
        answer = await client.complete(ref, {"name": "style", "value": "f"})
        assert answer.completion.values == ["formal", "friendly", "funny"]
        assert answer.completion.total == 3
        assert answer.completion.has_more is False
        assert (await client.complete(ref, {"name": "style", "value": "FR"})).completion.values == [
            "friendly"
        ]
        assert (await client.complete(ref, {"name": "style", "value": ""})).completion.total == 4
        # An argument with nothing to offer completes to nothing, not an error.
        assert (await client.complete(ref, {"name": "user", "value": "a"})).completion.values == []
        with pytest.raises(MCPError) as raised:
            await client.complete(
                types.PromptReference(type="ref/prompt", name="nope"), {"name": "x", "value": ""}
            )
    assert raised.value.error.code == -32602
