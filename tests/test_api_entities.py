"""The management API, kind by kind: what someone managing tools, resources, prompts, virtual
servers and upstream gateways over HTTP sees.

Each test starts a real gateway (SQLite in the test's temp folder) and talks to it with httpx.
The payloads are the seed's curl examples.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

TOOL = {
    "name": "clock_tool",
    "url": "http://localhost:9000/rpc",
    "description": "Returns current time",
    "input_schema": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": []},
}
PROMPT = {
    "name": "greet",
    "template": "Hello, {{ user }}!",
    "argument_schema": {"type": "object", "properties": {"user": {"type": "string"}}, "required": ["user"]},
}
RESOURCE = {"uri": "docs://readme", "name": "readme", "mime_type": "text/markdown", "content": "# Forge\n"}
SERVER = {"name": "ops", "description": "What the operations team may use"}
GATEWAY = {"name": "upstream", "url": "http://localhost:9100/mcp", "transport": "streamable_http"}

# kind: (payload that creates one, a change to it, how the change shows in what the API answers)
KINDS = {
    "tools": (TOOL, {"description": "Returns the time in a zone"}, {"description": "Returns the time in a zone"}),
    "resources": (RESOURCE, {"content": "# Forge 2\n"}, {"text": "# Forge 2\n"}),
    "prompts": (PROMPT, {"template": "Hi, {{ user }}."}, {"template": "Hi, {{ user }}."}),
    "servers": (SERVER, {"icon": "https://example.com/ops.png"}, {"icon": "https://example.com/ops.png"}),
    "gateways": (GATEWAY, {"url": "http://localhost:9200/mcp"}, {"url": "http://localhost:9200/mcp"}),
}


def created(api, kind: str, payload: dict) -> dict:
    response = api.post(f"/{kind}", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def moment(value: str) -> datetime:
    """An API timestamp, which always carries its zone: UTC."""
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


def names(page: dict) -> list[str]:
    return [item["name"] for item in page["items"]]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_created_read_listed_updated_toggled_and_deleted(api, kind):
    payload, change, shown = KINDS[kind]
    entity = created(api, kind, payload)
    assert entity["enabled"] is True
    assert moment(entity["created_at"]) <= moment(entity["updated_at"])
    assert api.get(f"/{kind}/{entity['id']}").json() == entity
    assert api.get(f"/{kind}").json() == {"items": [entity], "total": 1, "offset": 0, "limit": 50}

    updated = api.patch(f"/{kind}/{entity['id']}", json=change)
    assert updated.status_code == 200, updated.text
    after = updated.json()
    if kind == "gateways":  # reconnected at once: the row tells the new URL's failure, not the old one's
        assert "localhost:9200" in after["last_error"], after["last_error"]
        entity = {**entity, "last_error": after["last_error"]}
    assert after == {**entity, **shown, "updated_at": after["updated_at"]}
    assert moment(after["updated_at"]) >= moment(entity["updated_at"])
    assert api.get(f"/{kind}/{entity['id']}").json() == after

    disabled = api.post(f"/{kind}/{entity['id']}/disable")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert api.get(f"/{kind}", params={"enabled": "false"}).json()["total"] == 1
    assert api.get(f"/{kind}", params={"enabled": "true"}).json()["total"] == 0
    enabled = api.post(f"/{kind}/{entity['id']}/enable")
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True

    assert api.delete(f"/{kind}/{entity['id']}").status_code == 204
    assert api.get(f"/{kind}/{entity['id']}").status_code == 404
    assert api.get(f"/{kind}").json()["total"] == 0


def test_a_tool_gets_defaults_for_what_the_seed_payload_leaves_out(api):
    tool = created(api, "tools", TOOL)
    assert {key: tool[key] for key in TOOL} == TOOL
    assert tool["integration_type"] == "REST"
    assert tool["method"] == "POST"
    assert (tool["headers"], tool["annotations"], tool["output_schema"], tool["gateway_id"]) == ({}, {}, None, None)

    bare = created(api, "tools", {"name": "ping", "url": "https://example.com/ping"})
    assert bare["input_schema"] == {"type": "object", "properties": {}}
    assert bare["description"] is None


def test_a_tool_accepts_the_mcp_and_contextforge_spellings(api):
    tool = created(api, "tools", {
        "name": "weather",
        "url": "https://api.example.com/weather/{city}",
        "integrationType": "rest",
        "request_type": "GET",
        "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}},
        "outputSchema": {"type": "object", "properties": {"celsius": {"type": "number"}}},
    })
    assert tool["integration_type"] == "REST"
    assert tool["method"] == "GET"
    assert tool["input_schema"]["properties"] == {"city": {"type": "string"}}
    assert tool["output_schema"]["properties"] == {"celsius": {"type": "number"}}


@pytest.mark.parametrize("method", ["put", "patch"])
def test_put_and_patch_change_only_the_fields_they_name(api, method):
    tool = created(api, "tools", TOOL)
    first = getattr(api, method)(f"/tools/{tool['id']}", json={"description": "Tells the time"})
    assert first.status_code == 200, first.text
    second = getattr(api, method)(f"/tools/{tool['id']}", json={"headers": {"X-Team": "ops"}, "timeout": 5})
    after = second.json()
    assert after["description"] == "Tells the time"
    assert after["headers"] == {"X-Team": "****"} and after["timeout"] == 5  # header values are shown masked
    assert {key: after[key] for key in ("name", "url", "input_schema", "method")} == {
        key: tool[key] for key in ("name", "url", "input_schema", "method")
    }
    assert api.get(f"/tools/{tool['id']}").json() == after


def test_an_update_may_rename_and_a_null_clears_an_optional_field(api):
    tool = created(api, "tools", TOOL)
    after = api.patch(f"/tools/{tool['id']}", json={"name": "clock", "description": None}).json()
    assert (after["name"], after["description"]) == ("clock", None)
    assert names(api.get("/tools").json()) == ["clock"]


def test_a_resource_holds_text_exactly_as_sent_or_a_base64_blob(api):
    text = created(api, "resources", RESOURCE)
    assert (text["text"], text["blob"], text["is_template"]) == ("# Forge\n", None, False)
    code = api.patch(f"/resources/{text['id']}", json={"content": "    indented()\n\n"}).json()
    assert code["text"] == "    indented()\n\n"

    binary = api.patch(f"/resources/{text['id']}", json={"blob": "iVBORw0KGgo=", "mime_type": "image/png"}).json()
    assert (binary["text"], binary["blob"], binary["mime_type"]) == (None, "iVBORw0KGgo=", "image/png")

    back = api.patch(f"/resources/{text['id']}", json={"content": "plain again"}).json()
    assert (back["text"], back["blob"]) == ("plain again", None)


def test_a_resource_named_by_a_uri_template_is_a_template(api):
    template = created(api, "resources", {"uri": "docs://pages/{page}", "mimeType": "text/plain", "text": "page"})
    assert template["is_template"] is True
    assert template["name"] == "docs://pages/{page}"  # the URI, when no name is given
    assert template["mime_type"] == "text/plain"


def test_a_prompt_takes_a_json_schema_or_mcp_style_arguments(api):
    schema = created(api, "prompts", PROMPT)
    assert schema["argument_schema"] == PROMPT["argument_schema"]

    listed = created(api, "prompts", {
        "name": "summarize",
        "template": "Summarize {{ text }} in {{ words }} words.",
        "arguments": [{"name": "text", "required": True}, {"name": "words", "description": "How short"}],
    })
    assert listed["argument_schema"] == {
        "type": "object",
        "properties": {"text": {"type": "string"}, "words": {"type": "string", "description": "How short"}},
        "required": ["text"],
    }


def test_a_virtual_server_bundles_tools_resources_and_prompts_by_id(api):
    clock, ping = created(api, "tools", TOOL), created(api, "tools", {"name": "ping", "url": "http://localhost:9000/ping"})
    readme, greet = created(api, "resources", RESOURCE), created(api, "prompts", PROMPT)

    server = created(api, "servers", {
        "name": "ops",
        "associated_tools": [clock["id"], ping["id"]],
        "associated_resources": [readme["id"]],
        "associated_prompts": [greet["id"]],
    })
    assert server["tool_ids"] == sorted([clock["id"], ping["id"]])
    assert (server["resource_ids"], server["prompt_ids"]) == ([readme["id"]], [greet["id"]])

    fewer = api.patch(f"/servers/{server['id']}", json={"tool_ids": [ping["id"]]}).json()
    assert fewer["tool_ids"] == [ping["id"]]
    assert (fewer["resource_ids"], fewer["prompt_ids"]) == ([readme["id"]], [greet["id"]])
    emptied = api.put(f"/servers/{server['id']}", json={"resource_ids": [], "prompt_ids": []}).json()
    assert (emptied["tool_ids"], emptied["resource_ids"], emptied["prompt_ids"]) == ([ping["id"]], [], [])

    assert api.delete(f"/servers/{server['id']}").status_code == 204
    assert api.get("/tools").json()["total"] == 2  # the members outlive the bundle


def test_deleting_a_tool_a_server_holds_is_refused_unless_forced(api):
    tool = created(api, "tools", TOOL)
    server = created(api, "servers", {"name": "ops", "tool_ids": [tool["id"]]})

    refused = api.delete(f"/tools/{tool['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert "'ops'" in refused.json()["error"]["message"] and "force=true" in refused.json()["error"]["message"]
    assert refused.json()["error"]["details"] == {"servers": ["ops"]}
    assert api.get(f"/tools/{tool['id']}").status_code == 200
    assert api.get(f"/servers/{server['id']}").json()["tool_ids"] == [tool["id"]]

    assert api.delete(f"/tools/{tool['id']}", params={"force": "true"}).status_code == 204
    assert api.get(f"/tools/{tool['id']}").status_code == 404
    assert api.get(f"/servers/{server['id']}").json()["tool_ids"] == []


def test_a_gateway_accepts_contextforge_transport_spellings(api):
    sse = created(api, "gateways", {"name": "legacy", "url": "http://localhost:9100/sse", "transport": "SSE"})
    http = created(api, "gateways", {"name": "modern", "url": "https://mcp.example.com/mcp", "transport": "STREAMABLEHTTP"})
    ws = created(api, "gateways", {"name": "socket", "url": "ws://localhost:9300/ws", "transport": "ws"})
    default = created(api, "gateways", {"name": "plain", "url": "http://localhost:9400/mcp"})
    assert [g["transport"] for g in (sse, http, ws, default)] == ["sse", "streamable_http", "websocket", "streamable_http"]
    # Nothing answers there: the federation plugin, when installed, has recorded it unhealthy.
    assert sse["state"] in ("unknown", "unhealthy")
    assert (sse["capabilities"], sse["last_seen"], sse["headers"]) == ({}, None, {})


def test_lists_come_in_pages_ordered_by_name(api):
    for name in ["delta", "alpha", "echo", "charlie", "golf", "bravo", "foxtrot"]:
        created(api, "tools", {"name": name, "url": f"http://localhost:9000/{name}"})

    first = api.get("/tools", params={"limit": 3}).json()
    assert (names(first), first["total"], first["offset"], first["limit"]) == (["alpha", "bravo", "charlie"], 7, 0, 3)
    second = api.get("/tools", params={"offset": 3, "limit": 3}).json()
    assert names(second) == ["delta", "echo", "foxtrot"]
    last = api.get("/tools", params={"offset": 6, "limit": 3}).json()
    assert (names(last), last["total"]) == (["golf"], 7)
    beyond = api.get("/tools", params={"offset": 50}).json()
    assert (beyond["items"], beyond["total"]) == ([], 7)


def test_lists_filter_by_a_case_insensitive_search_and_by_enabled(api):
    for name in ["get_time", "getXtime", "Clock_Alarm", "weather"]:
        created(api, "tools", {"name": name, "url": "http://localhost:9000/rpc"})
    api.post(f"/tools/{api.get('/tools', params={'search': 'weather'}).json()['items'][0]['id']}/disable")

    assert names(api.get("/tools", params={"search": "CLOCK"}).json()) == ["Clock_Alarm"]
    assert names(api.get("/tools", params={"search": "t_t"}).json()) == ["get_time"]  # "_" is a character, not a wildcard
    assert api.get("/tools", params={"search": "%"}).json()["total"] == 0
    assert names(api.get("/tools", params={"enabled": "false"}).json()) == ["weather"]
    assert sorted(names(api.get("/tools", params={"enabled": "true", "search": "time"}).json())) == ["getXtime", "get_time"]

    created(api, "resources", RESOURCE)
    created(api, "resources", {"uri": "notes://today", "name": "Today", "content": "-"})
    found = api.get("/resources", params={"search": "docs://"}).json()
    assert [item["uri"] for item in found["items"]] == ["docs://readme"]  # resources are found by URI


def test_lists_filter_by_the_gateway_an_entity_came_from(forge, api):
    upstream = created(api, "gateways", GATEWAY)
    # Federation stores what an upstream offers with its gateway_id; the API never sets it.
    forge.run(forge.gateway.store.create("tools", {**TOOL, "name": "remote_clock", "gateway_id": upstream["id"]}))
    created(api, "tools", TOOL)

    from_upstream = api.get("/tools", params={"gateway_id": upstream["id"]}).json()
    assert names(from_upstream) == ["remote_clock"]
    assert from_upstream["items"][0]["gateway_id"] == upstream["id"]
    assert api.get("/tools", params={"gateway_id": "elsewhere"}).json()["total"] == 0
    assert api.get("/tools").json()["total"] == 2
