"""list_changed over MCP: when an administrator changes the catalog, connected clients are told at
once — on the session's GET stream in the handshake era, on a subscriptions/listen stream in 2026."""

from __future__ import annotations

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import PromptsListChanged, ResourcesListChanged, ToolsListChanged


def connect(forge, mode: str, **options) -> Client:
    return Client(streamable_http_client(forge.url + "/mcp"), mode=mode, cache=None, **options)


class Heard:
    """A message_handler that records server notifications and lets a test wait for one."""

    def __init__(self):
        self.methods: list[str] = []
        self._arrived = anyio.Event()

    async def __call__(self, message) -> None:
        if isinstance(message, Exception):
            return
        self.methods.append(message.method)
        self._arrived.set()

    async def wait_for(self, method: str, timeout: float = 5) -> None:
        with anyio.fail_after(timeout):
            while method not in self.methods:
                self._arrived = anyio.Event()
                await self._arrived.wait()


async def test_a_legacy_session_hears_that_a_tool_was_added(forge, api, rest_upstream):
    heard = Heard()
    async with connect(forge, "legacy", message_handler=heard) as client:
        assert (await client.list_tools()).tools == []
        api.post("/tools", json={"name": "late", "url": rest_upstream + "/late"}).raise_for_status()
        await heard.wait_for("notifications/tools/list_changed")
        assert [t.name for t in (await client.list_tools()).tools] == ["late"]


async def test_a_legacy_session_hears_that_a_tool_was_disabled(forge, api, rest_upstream):
    tool = api.post("/tools", json={"name": "doomed", "url": rest_upstream + "/d"}).json()
    heard = Heard()
    async with connect(forge, "legacy", message_handler=heard) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["doomed"]
        api.post(f"/tools/{tool['id']}/disable").raise_for_status()
        await heard.wait_for("notifications/tools/list_changed")
        assert (await client.list_tools()).tools == []


async def test_a_legacy_session_hears_of_prompt_and_resource_changes(forge, api):
    heard = Heard()
    async with connect(forge, "legacy", message_handler=heard):
        api.post("/prompts", json={"name": "p", "template": "hi"}).raise_for_status()
        api.post("/resources", json={"uri": "docs://r", "content": "r"}).raise_for_status()
        await heard.wait_for("notifications/prompts/list_changed")
        await heard.wait_for("notifications/resources/list_changed")
    assert "notifications/tools/list_changed" not in heard.methods


async def test_a_2026_listener_hears_that_a_tool_was_added(forge, api, rest_upstream):
    async with connect(forge, "auto") as client:
        assert (await client.list_tools()).tools == []
        async with client.listen(tools_list_changed=True) as subscription:
            assert subscription.honored.tools_list_changed is True
            api.post("/tools", json={"name": "late", "url": rest_upstream + "/late"}).raise_for_status()
            with anyio.fail_after(5):
                assert await subscription.__anext__() == ToolsListChanged()
            assert [t.name for t in (await client.list_tools()).tools] == ["late"]


async def test_a_2026_listener_hears_that_a_tool_was_disabled(forge, api, rest_upstream):
    tool = api.post("/tools", json={"name": "doomed", "url": rest_upstream + "/d"}).json()
    async with connect(forge, "auto") as client, client.listen(tools_list_changed=True) as subscription:
        assert [t.name for t in (await client.list_tools()).tools] == ["doomed"]
        api.post(f"/tools/{tool['id']}/disable").raise_for_status()
        assert (await client.list_tools()).tools == []  # gone at once, before any notification is read
        with anyio.fail_after(5):
            assert await subscription.__anext__() == ToolsListChanged()


async def test_a_2026_listener_hears_only_what_it_asked_for(forge, api, rest_upstream):
    async with (
        connect(forge, "auto") as client,
        client.listen(prompts_list_changed=True, resources_list_changed=True) as subscription,
    ):
        assert subscription.honored.tools_list_changed is None
        api.post("/tools", json={"name": "unheard", "url": rest_upstream + "/u"}).raise_for_status()
        api.post("/prompts", json={"name": "p", "template": "hi"}).raise_for_status()
        api.post("/resources", json={"uri": "docs://r", "content": "r"}).raise_for_status()
        with anyio.fail_after(5):
            events = [await subscription.__anext__(), await subscription.__anext__()]
    assert events == [PromptsListChanged(), ResourcesListChanged()]


async def test_a_closed_listener_is_forgotten(forge, api, rest_upstream):
    async with connect(forge, "auto") as client, client.listen(tools_list_changed=True):
        assert len(forge.gateway.engine.subscriptions) == 1
    with anyio.fail_after(5):
        while len(forge.gateway.engine.subscriptions):
            await anyio.sleep(0.02)
