"""Resources over MCP: static text, binary blobs and URI templates stored through the management
API; reading, completing template variables and being told of updates, in both protocol eras."""

from __future__ import annotations

import base64

import anyio
import pytest
from mcp import Client, MCPError, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ResourceUpdated

pytestmark = [pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def connect(forge, mode: str, **options) -> Client:
    return Client(streamable_http_client(forge.url + "/mcp"), mode=mode, **options)


def add_resource(api, **fields) -> dict:
    answer = api.post("/resources", json=fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture
def library(api):
    """A text resource, a binary one and a template with completions."""
    return {
        "readme": add_resource(
            api,
            uri="docs://readme",
            name="readme",
            description="Read me first",
            mime_type="text/markdown",
            content="# Forge",
        ),
        "logo": add_resource(
            api, uri="images://logo", name="logo", mime_type="image/png", blob=base64.b64encode(PNG).decode()
        ),
        "item": add_resource(
            api,
            uri="docs://items/{id}",
            name="item",
            mime_type="text/plain",
            content="Item number {{ id }}",
            completions={"id": ["100", "101", "200"]},
        ),
    }


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_resources_and_templates_are_listed(forge, library, mode):
    async with connect(forge, mode) as client:
        listed = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
    assert [(str(r.uri), r.name, r.mime_type) for r in listed] == [
        ("docs://readme", "readme", "text/markdown"),
        ("images://logo", "logo", "image/png"),
    ]
    assert listed[0].description == "Read me first"
    assert [(t.uri_template, t.name, t.mime_type) for t in templates] == [
        ("docs://items/{id}", "item", "text/plain")
    ]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_text_binary_and_templated_resources_are_read(forge, library, mode):
    async with connect(forge, mode) as client:
        (text,) = (await client.read_resource("docs://readme")).contents
        (blob,) = (await client.read_resource("images://logo")).contents
        (item,) = (await client.read_resource("docs://items/101")).contents
    assert (str(text.uri), text.mime_type, text.text) == ("docs://readme", "text/markdown", "# Forge")
    assert (str(blob.uri), blob.mime_type) == ("images://logo", "image/png")
    assert base64.b64decode(blob.blob) == PNG
    assert (str(item.uri), item.text) == ("docs://items/101", "Item number 101")


@pytest.mark.parametrize(("mode", "code"), [("legacy", -32002), ("auto", -32602)])
async def test_an_unknown_resource_is_an_error_naming_the_uri(forge, library, mode, code):
    async with connect(forge, mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("docs://missing")
    assert raised.value.error.code == code  # 2026-07-28 retired -32002 for -32602
    assert raised.value.error.data == {"uri": "docs://missing"}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_template_variables_complete_from_the_resource_completions(forge, library, mode):
    ref = types.ResourceTemplateReference(type="ref/resource", uri="docs://items/{id}")
    async with connect(forge, mode) as client:
        answer = await client.complete(ref, {"name": "id", "value": "10"})
        assert answer.completion.values == ["100", "101"]
        assert answer.completion.total == 2
        assert (await client.complete(ref, {"name": "other", "value": ""})).completion.values == []
        with pytest.raises(MCPError) as raised:
            await client.complete(
                types.ResourceTemplateReference(type="ref/resource", uri="docs://nope/{id}"),
                {"name": "id", "value": ""},
            )
    assert raised.value.error.code == -32602


async def test_an_edited_resource_is_read_fresh(forge, api, library):
    async with connect(forge, "auto", cache=None) as client:
        assert (await client.read_resource("docs://readme")).contents[0].text == "# Forge"
        api.put(
            f"/resources/{library['readme']['id']}", json={"content": "# Forge, edited"}
        ).raise_for_status()
        assert (await client.read_resource("docs://readme")).contents[0].text == "# Forge, edited"


async def test_an_edited_or_disabled_template_is_read_fresh(forge, api, library):
    item = library["item"]
    async with connect(forge, "auto", cache=None) as client:
        assert (await client.read_resource("docs://items/7")).contents[0].text == "Item number 7"
        api.put(f"/resources/{item['id']}", json={"content": "Article {{ id }}"}).raise_for_status()
        assert (await client.read_resource("docs://items/7")).contents[0].text == "Article 7"
        api.post(f"/resources/{item['id']}/disable").raise_for_status()
        with pytest.raises(MCPError) as raised:
            await client.read_resource("docs://items/7")
    assert raised.value.error.code == -32602


async def test_a_legacy_subscriber_hears_of_an_update_on_its_stream(forge, api, library):
    updated: list[str] = []
    arrived = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))
            arrived.set()

    async with connect(forge, "legacy", message_handler=on_message) as client:
        await client.subscribe_resource("docs://readme")
        api.put(
            f"/resources/{library['logo']['id']}", json={"description": "unsubscribed"}
        ).raise_for_status()
        api.put(f"/resources/{library['readme']['id']}", json={"content": "# New"}).raise_for_status()
        with anyio.fail_after(5):
            await arrived.wait()
        assert updated == ["docs://readme"]
        await client.unsubscribe_resource("docs://readme")
        assert (await client.read_resource("docs://readme")).contents[0].text == "# New"


async def test_a_2026_listener_hears_of_an_update_on_its_subscription(forge, api, library):
    async with connect(forge, "auto") as client:
        async with client.listen(resource_subscriptions=["docs://readme"]) as subscription:
            assert subscription.honored.resource_subscriptions == ["docs://readme"]
            api.put(
                f"/resources/{library['logo']['id']}", json={"description": "unsubscribed"}
            ).raise_for_status()
            api.put(f"/resources/{library['readme']['id']}", json={"content": "# New"}).raise_for_status()
            with anyio.fail_after(5):
                event = await subscription.__anext__()
        assert event == ResourceUpdated(uri="docs://readme")
        assert (await client.read_resource("docs://readme")).contents[0].text == "# New"


async def test_subscribing_is_not_a_2026_method(forge, library):
    async with connect(forge, "auto") as client:
        with pytest.raises(MCPError) as raised:
            await client.subscribe_resource("docs://readme")
    assert raised.value.error.code == -32601


async def test_subscribers_of_a_templated_uri_hear_when_the_template_changes(forge, api, library):
    item = library["item"]
    updated: list[str] = []
    arrived = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))
            arrived.set()

    async with connect(forge, "legacy", message_handler=on_message) as old, connect(forge, "auto") as new:
        await old.subscribe_resource("docs://items/7")
        async with new.listen(resource_subscriptions=["docs://items/8", "docs://readme"]) as subscription:
            api.put(f"/resources/{item['id']}", json={"content": "Article {{ id }}"}).raise_for_status()
            with anyio.fail_after(5):
                await arrived.wait()
                event = await subscription.__anext__()
        assert updated == ["docs://items/7"]
        assert event == ResourceUpdated(uri="docs://items/8")
        assert (await new.read_resource("docs://items/8")).contents[0].text == "Article 8"
