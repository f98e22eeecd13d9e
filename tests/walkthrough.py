"""What a user does with the official MCP client on any transport, for the transport tests.

`catalog(api, rest_upstream)` stores a REST tool, a prompt and a resource through the management
API; `walk_through(client, notes, api, catalog)` lists and calls the tool, renders the prompt, reads
and subscribes to the resource, and hears of an administrator's changes on the session's stream.
"""

from __future__ import annotations

import anyio


def created(answer) -> dict:
    assert answer.status_code == 201, answer.text
    return answer.json()


def catalog(api, rest_upstream: str) -> dict:
    echo_schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    greet_schema = {"type": "object", "properties": {"user": {"type": "string"}}, "required": ["user"]}
    return {
        "tool": created(
            api.post(
                "/tools",
                json={"name": "echo", "url": rest_upstream + "/echo/{id}", "input_schema": echo_schema},
            )
        ),
        "prompt": created(
            api.post(
                "/prompts",
                json={"name": "greet", "template": "Hello, {{ user }}!", "argument_schema": greet_schema},
            )
        ),
        "resource": created(
            api.post(
                "/resources",
                json={
                    "uri": "docs://readme",
                    "name": "readme",
                    "mime_type": "text/markdown",
                    "content": "# Forge",
                },
            )
        ),
    }


class Notifications:
    """A client's `message_handler`: keeps the server's notifications for the test to wait on."""

    def __init__(self):
        self.methods: list[str] = []

    async def __call__(self, message) -> None:
        if not isinstance(message, Exception):
            self.methods.append(message.method)

    async def wait_for(self, method: str, timeout: float = 5.0) -> None:
        with anyio.fail_after(timeout):
            while method not in self.methods:
                await anyio.sleep(0.02)


async def walk_through(client, notes: Notifications, api, stored: dict) -> None:
    assert client.protocol_version == "2025-11-25"
    assert [tool.name for tool in (await client.list_tools()).tools] == ["echo"]
    result = await client.call_tool("echo", {"id": "7"})
    assert not result.is_error, result
    assert '"path": "/echo/7"' in result.content[0].text

    prompt = await client.get_prompt("greet", {"user": "Ada"})
    assert [(m.role, m.content.text) for m in prompt.messages] == [("user", "Hello, Ada!")]

    (content,) = (await client.read_resource("docs://readme")).contents
    assert (str(content.uri), content.mime_type, content.text) == (
        "docs://readme",
        "text/markdown",
        "# Forge",
    )

    await client.subscribe_resource("docs://readme")
    api.put(f"/resources/{stored['resource']['id']}", json={"content": "# Forge, edited"}).raise_for_status()
    await notes.wait_for("notifications/resources/updated")
    assert (await client.read_resource("docs://readme")).contents[0].text == "# Forge, edited"

    created(api.post("/tools", json={"name": "second", "url": "http://127.0.0.1:9/unused"}))
    await notes.wait_for("notifications/tools/list_changed")
    assert sorted(tool.name for tool in (await client.list_tools()).tools) == ["echo", "second"]


async def settle(condition, timeout: float = 5.0) -> bool:
    """Whether `condition()` holds within `timeout` seconds, polled without blocking the loop."""
    with anyio.move_on_after(timeout):
        while not condition():
            await anyio.sleep(0.02)
    return condition()
