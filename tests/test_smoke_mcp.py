import warnings

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

warnings.filterwarnings("ignore")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_sdk_client_calls_a_rest_tool(forge, api, rest_upstream, mode):
    api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo/{id}", "input_schema": {"type": "object", "properties": {"id": {"type": "string"}, "x": {"type": "integer"}}}}).raise_for_status()
    async with Client(streamable_http_client(forge.url + "/mcp"), mode=mode) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == ["echo"]
        result = await client.call_tool("echo", {"id": "7", "x": 3})
        assert not result.is_error, result
        assert '"path": "/echo/7"' in result.content[0].text
        print(client.protocol_version)
