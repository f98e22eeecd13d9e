"""The audit trail (the audit plugin): every management write recorded with who, what and when, the
entity before and after with its secrets masked; tool calls when asked, written in batches;
`GET /audit` filtered and paginated, for administrators only; old entries pruned; nothing at all
without the plugin."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from forge_plugins.auth_basic_jwt import create_token
from forge_plugins.observability.audit import audit_log_of

JSON = {"accept": "application/json", "content-type": "application/json"}
SECRET = "audit-test-secret-of-32-bytes-or-more"
MASK = "*****"


def trail(api: httpx.Client, **query) -> dict:
    answer = api.get("/audit", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()


def tools_call(api: httpx.Client, name: str, arguments: dict) -> dict:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return api.post("/rpc", json=body, headers=JSON).json()


def test_create_update_and_delete_are_recorded_with_secrets_masked(api, rest_upstream):
    created = api.post(
        "/tools",
        json={
            "name": "weather",
            "url": "https://bot:pa55@api.example.com/weather?api_key=k-123&units=metric",
            "headers": {"Authorization": "Bearer upstream-secret", "X-Trace": "plain"},
        },
    )
    tool = created.json()
    api.patch(f"/tools/{tool['id']}", json={"description": "Forecasts"}).raise_for_status()
    api.post(f"/tools/{tool['id']}/disable").raise_for_status()
    deleted = api.delete(f"/tools/{tool['id']}", headers={"x-request-id": "delete-1"})
    assert deleted.status_code == 204

    entries = trail(api)["items"]
    assert [entry["action"] for entry in entries] == ["delete", "disable", "update", "create"]
    assert {
        (entry["kind"], entry["entity_id"], entry["entity_name"], entry["principal"], entry["outcome"])
        for entry in entries
    } == {("tools", tool["id"], "weather", "anonymous", "ok")}
    delete, disable, update, create = entries
    assert create["before"] is None and delete["after"] is None
    assert create["after"]["headers"] == {"Authorization": MASK, "X-Trace": MASK}  # every header value
    assert create["after"]["url"] == f"https://bot:{MASK}@api.example.com/weather?api_key={MASK}&units=metric"
    assert update["before"]["description"] is None and update["after"]["description"] == "Forecasts"
    assert update["details"]["changed"] == ["description"]
    assert disable["details"]["changed"] == ["enabled"] and disable["after"]["enabled"] is False
    assert delete["before"]["name"] == "weather" and delete["request_id"] == "delete-1"
    assert create["request_id"] == created.headers["x-request-id"]
    everything = api.get("/audit").text
    assert "upstream-secret" not in everything and "pa55" not in everything and "k-123" not in everything


def test_the_trail_is_filtered_and_paginated(api):
    for number in range(3):
        api.post("/prompts", json={"name": f"p{number}", "template": "Hi {{ who }}"}).raise_for_status()
    tool = api.post("/tools", json={"name": "t", "url": "https://api.example.com/t"}).json()
    api.delete(f"/tools/{tool['id']}").raise_for_status()

    assert trail(api)["total"] == 5
    prompts = trail(api, kind="prompts")
    assert [entry["entity_name"] for entry in prompts["items"]] == ["p2", "p1", "p0"]  # newest first
    assert [entry["action"] for entry in trail(api, kind="tools")["items"]] == ["delete", "create"]
    assert trail(api, action="delete")["total"] == 1
    assert trail(api, entity_id=tool["id"])["total"] == 2
    assert trail(api, principal="anonymous")["total"] == 5 and trail(api, principal="mallory")["total"] == 0

    first, second = trail(api, limit=2), trail(api, limit=2, offset=2)
    assert (first["total"], first["limit"], second["offset"]) == (5, 2, 2)
    assert [e["id"] for e in first["items"]] + [e["id"] for e in second["items"]] == [
        e["id"] for e in trail(api)["items"][:4]
    ]

    middle = prompts["items"][1]["at"]  # p1's instant
    assert [e["entity_name"] for e in trail(api, kind="prompts", since=middle)["items"]] == ["p2", "p1"]
    assert [e["entity_name"] for e in trail(api, kind="prompts", until=middle)["items"]] == ["p0"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert trail(api, since=future)["total"] == 0
    naive_past = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None).isoformat()  # read as UTC
    assert trail(api, since=naive_past)["total"] == 5
    assert api.get("/audit", params={"limit": 0}).json()["error"]["code"] == "invalid_query"


def test_only_administrators_read_the_trail_when_authentication_is_on(start_forge):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    admin = httpx.Client(base_url=forge.url, auth=("admin", "changeme"))
    admin.post("/prompts", json={"name": "greet", "template": "Hello"}).raise_for_status()
    (entry,) = trail(admin)["items"]
    assert (entry["principal"], entry["details"]["auth"]) == ("admin", "basic")
    reader = {"authorization": f"Bearer {create_token('rita', SECRET, scopes=['read'])}"}
    assert httpx.get(forge.url + "/audit", headers=reader).status_code == 403
    assert httpx.get(forge.url + "/audit").status_code == 401
    admin.close()


def test_tool_calls_are_not_recorded_unless_asked(api, rest_upstream):
    api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
    tools_call(api, "echo", {})
    assert trail(api, action="call")["total"] == 0


def test_tool_calls_are_buffered_and_written_in_batches(start_forge, rest_upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_TOOL_CALLS", "true")
    monkeypatch.setenv("AUDIT_FLUSH_SECONDS", "3600")  # nothing is written before shutdown
    forge = start_forge()
    with httpx.Client(base_url=forge.url) as api:
        api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
        api.post("/tools", json={"name": "broken", "url": rest_upstream + "/status/500"}).raise_for_status()
        tools_call(api, "echo", {"secret_note": "do-not-record"})
        tools_call(api, "broken", {})
        tools_call(api, "missing", {})
        assert trail(api, action="call")["total"] == 0  # still in memory: no write per call
    forge.stop()  # the buffer is written at shutdown

    again = start_forge(database_url=forge.settings.database_url)
    with httpx.Client(base_url=again.url) as api:
        calls = trail(api, action="call")["items"]
    assert [(c["entity_name"], c["outcome"]) for c in calls] == [
        ("missing", "error"),
        ("broken", "tool_error"),
        ("echo", "ok"),
    ]
    missing, _, echo = calls
    assert echo["principal"] == "anonymous" and echo["kind"] == "tools" and echo["entity_id"]
    assert missing["entity_id"] is None and missing["details"]["error_code"] == -32602
    assert echo["details"]["transport"] == "streamable_http" and echo["details"]["latency_ms"] > 0
    assert echo["trace_id"] and len(echo["trace_id"]) == 32  # the observability plugin's trace of the call
    assert "do-not-record" not in str(calls)


def test_buffered_tool_calls_reach_the_trail_within_the_flush_interval(
    start_forge, rest_upstream, monkeypatch
):
    monkeypatch.setenv("AUDIT_TOOL_CALLS", "true")
    monkeypatch.setenv("AUDIT_FLUSH_SECONDS", "0.2")
    forge = start_forge()
    with httpx.Client(base_url=forge.url) as api:
        api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).raise_for_status()
        for _ in range(3):
            tools_call(api, "echo", {})
        deadline = time.monotonic() + 10
        while trail(api, action="call")["total"] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert trail(api, action="call")["total"] == 3


def test_entries_older_than_the_retention_are_pruned(start_forge, monkeypatch):
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "30")
    forge = start_forge()
    with httpx.Client(base_url=forge.url) as api:
        api.post("/prompts", json={"name": "old", "template": "x"}).raise_for_status()
        audit_log = audit_log_of(forge.gateway)
        assert forge.run(audit_log.prune(now=datetime.now(UTC) + timedelta(days=29))) == 0
        assert trail(api)["total"] == 1
        assert forge.run(audit_log.prune(now=datetime.now(UTC) + timedelta(days=31))) == 1
        assert trail(api)["total"] == 0


def test_a_retention_of_zero_keeps_everything(start_forge, monkeypatch):
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "0")
    forge = start_forge()
    with httpx.Client(base_url=forge.url) as api:
        api.post("/prompts", json={"name": "kept", "template": "x"}).raise_for_status()
        assert forge.run(audit_log_of(forge.gateway).prune(now=datetime.now(UTC) + timedelta(days=3650))) == 0
        assert trail(api)["total"] == 1


@pytest.mark.parametrize("disabled", [["audit"], ["observability", "audit"]])
def test_without_the_plugin_nothing_is_recorded(start_forge, tmp_path, disabled, monkeypatch):
    monkeypatch.setenv("AUDIT_TOOL_CALLS", "true")
    forge = start_forge(plugins_disabled=disabled)
    with httpx.Client(base_url=forge.url) as api:
        api.post("/prompts", json={"name": "p", "template": "x"}).raise_for_status()
        assert api.get("/audit").status_code == 404
    assert audit_log_of(forge.gateway) is None
    engine = create_engine(forge.settings.database_url)
    try:
        assert not inspect(engine).has_table("audit_entries")
    finally:
        engine.dispose()
