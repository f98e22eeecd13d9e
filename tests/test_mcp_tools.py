"""Tools over MCP: a REST endpoint registered through the management API becomes a tool that any
MCP client lists and calls, in both protocol eras (2025-11-25 handshake, 2026-07-28 stateless)."""

from __future__ import annotations

import json
import socket

import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

ERAS = {"legacy": "2025-11-25", "auto": "2026-07-28"}
pytestmark = pytest.mark.parametrize("mode", list(ERAS))


def connect(forge, mode: str, path: str = "/mcp", **options) -> Client:
    return Client(streamable_http_client(forge.url + path), mode=mode, **options)


def add_tool(api, **fields) -> dict:
    answer = api.post("/tools", json=fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


def echoed(result) -> dict:
    """What the REST echo upstream received, from a tool result's text."""
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def test_the_client_negotiates_the_era_it_asked_for(forge, mode):
    async with connect(forge, mode) as client:
        assert client.protocol_version == ERAS[mode]
        assert client.server_info.name == "Forge"
        assert client.server_capabilities.tools.list_changed is True
        assert client.server_capabilities.prompts is not None
        assert client.server_capabilities.resources is not None


async def test_a_get_tool_fills_its_path_and_sends_the_rest_as_query(forge, api, rest_upstream, mode):
    add_tool(
        api,
        name="get_item",
        description="Fetch one item",
        url=rest_upstream + "/items/{id}",
        method="GET",
        headers={"X-Api-Key": "k-123"},
        input_schema={
            "type": "object",
            "properties": {"id": {"type": "string"}, "verbose": {"type": "boolean"}},
            "required": ["id"],
        },
    )
    async with connect(forge, mode) as client:
        (tool,) = (await client.list_tools()).tools
        assert tool.name == "get_item"
        assert tool.description == "Fetch one item"
        assert tool.input_schema["required"] == ["id"]
        seen = echoed(await client.call_tool("get_item", {"id": "a b/7", "verbose": True}))
    assert seen["method"] == "GET"
    assert seen["path"] == "/items/a%20b%2F7"
    assert seen["query"] == {"verbose": "true"}
    assert seen["headers"]["x-api-key"] == "k-123"
    assert seen["json"] is None


async def test_a_post_tool_sends_the_rest_as_a_json_body(forge, api, rest_upstream, mode):
    add_tool(
        api,
        name="create_order",
        url=rest_upstream + "/customers/{customer}/orders",
        method="POST",
        input_schema={
            "type": "object",
            "properties": {
                "customer": {"type": "integer"},
                "items": {"type": "array"},
                "note": {"type": "string"},
            },
        },
    )
    async with connect(forge, mode) as client:
        seen = echoed(
            await client.call_tool("create_order", {"customer": 42, "items": [1, 2], "note": "rush"})
        )
    assert seen["method"] == "POST"
    assert seen["path"] == "/customers/42/orders"
    assert seen["json"] == {"items": [1, 2], "note": "rush"}
    assert seen["headers"]["content-type"] == "application/json"


async def test_an_output_schema_makes_structured_content(forge, api, rest_upstream, mode):
    output_schema = {
        "type": "object",
        "properties": {"method": {"type": "string"}, "path": {"type": "string"}},
        "required": ["method", "path"],
    }
    add_tool(api, name="structured", url=rest_upstream + "/things", method="GET", output_schema=output_schema)
    async with connect(forge, mode) as client:
        (tool,) = (await client.list_tools()).tools
        assert tool.output_schema == output_schema
        result = await client.call_tool("structured", {})
    assert not result.is_error
    assert result.structured_content["method"] == "GET"
    assert result.structured_content["path"] == "/things"
    assert json.loads(result.content[0].text) == result.structured_content


async def test_a_plain_text_answer_is_text_content(forge, api, rest_upstream, mode):
    add_tool(api, name="words", url=rest_upstream + "/text", method="GET")
    async with connect(forge, mode) as client:
        result = await client.call_tool("words", {})
    assert not result.is_error
    assert result.content[0].text == "plain words"
    assert result.structured_content is None


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_an_upstream_error_status_is_an_error_result(forge, api, rest_upstream, mode, status):
    add_tool(api, name="broken", url=rest_upstream + f"/status/{status}", method="GET")
    async with connect(forge, mode) as client:
        result = await client.call_tool("broken", {})
    assert result.is_error
    assert f"HTTP {status}" in result.content[0].text
    assert f"status {status}" in result.content[0].text  # the upstream's own words reach the model


async def test_a_slow_upstream_times_out_as_an_error_result(forge, api, rest_upstream, mode):
    add_tool(api, name="sluggish", url=rest_upstream + "/slow/2", method="GET", timeout=0.2)
    async with connect(forge, mode) as client:
        result = await client.call_tool("sluggish", {})
    assert result.is_error
    assert "did not answer within 0.2s" in result.content[0].text


async def test_an_unreachable_upstream_is_an_error_result(forge, api, mode):
    with socket.socket() as probe:  # a port nobody listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    add_tool(api, name="nowhere", url=f"http://127.0.0.1:{port}/x", method="GET")
    async with connect(forge, mode) as client:
        result = await client.call_tool("nowhere", {})
    assert result.is_error
    assert "upstream request failed" in result.content[0].text


async def test_arguments_that_break_the_input_schema_are_an_error_result(forge, api, rest_upstream, mode):
    add_tool(
        api,
        name="typed",
        url=rest_upstream + "/typed",
        input_schema={
            "type": "object",
            "properties": {"count": {"type": "integer", "minimum": 1}},
            "required": ["count"],
            "additionalProperties": False,
        },
    )
    async with connect(forge, mode) as client:
        for arguments, problem in (
            ({}, "'count' is a required property"),
            ({"count": "three"}, "'three' is not of type 'integer'"),
            ({"count": 0}, "0 is less than the minimum of 1"),
            ({"count": 1, "extra": True}, "Additional properties are not allowed"),
        ):
            result = await client.call_tool("typed", arguments)
            assert result.is_error, arguments
            assert "Invalid arguments for tool 'typed'" in result.content[0].text
            assert problem in result.content[0].text
        assert not (await client.call_tool("typed", {"count": 3})).is_error


async def test_an_unknown_tool_is_invalid_params(forge, api, rest_upstream, mode):
    add_tool(api, name="known", url=rest_upstream + "/known")
    async with connect(forge, mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("no_such_tool", {})
    assert raised.value.error.code == -32602
    assert "no_such_tool" in raised.value.error.message


async def test_a_disabled_tool_disappears_and_cannot_be_called(forge, api, rest_upstream, mode):
    tool = add_tool(api, name="switchable", url=rest_upstream + "/switch")
    add_tool(api, name="stays", url=rest_upstream + "/stays")
    async with connect(forge, mode, cache=None) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"stays", "switchable"}
        api.post(f"/tools/{tool['id']}/disable").raise_for_status()
        assert [t.name for t in (await client.list_tools()).tools] == ["stays"]
        with pytest.raises(MCPError) as raised:
            await client.call_tool("switchable", {})
        assert raised.value.error.code == -32602
        api.post(f"/tools/{tool['id']}/enable").raise_for_status()
        assert not (await client.call_tool("switchable", {})).is_error
