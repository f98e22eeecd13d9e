"""What the store keeps: the catalog outlives the gateway process, on SQLite and on PostgreSQL.

Tests taking `database_url` run twice: on SQLite in the test's temp folder, and, marked `postgres`,
on a fresh PostgreSQL database of their own (skipped when FORGE_TEST_POSTGRES_URL does not answer).
Each starts real gateways on that database and talks to them over HTTP.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from alembic.script import ScriptDirectory
import pytest
from sqlalchemy import inspect

from forge.settings import Settings
from forge.store.migrations import alembic_config
from forge.store.repository import Store

KINDS = ("tools", "resources", "prompts", "servers", "gateways")


def catalog(api) -> dict[str, list[dict]]:
    return {kind: api.get(f"/{kind}", params={"limit": 1000}).json()["items"] for kind in KINDS}


def create(api, kind: str, payload: dict) -> dict:
    response = api.post(f"/{kind}", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def seed(api) -> None:
    """One of everything, with a server holding members, a disabled prompt and an edited tool."""
    clock = create(api, "tools", {
        "name": "clock_tool",
        "url": "http://localhost:9000/rpc",
        "description": "Returns current time",
        "input_schema": {"type": "object", "properties": {"timezone": {"type": "string"}}},
        "headers": {"X-Team": "ops"},
        "annotations": {"readOnlyHint": True},
    })
    api.patch(f"/tools/{clock['id']}", json={"timeout": 2.5})
    readme = create(api, "resources", {"uri": "docs://readme", "mime_type": "text/markdown", "content": "# Forge\n"})
    create(api, "resources", {"uri": "docs://pages/{page}", "completions": {"page": ["intro", "setup"]}})
    greet = create(api, "prompts", {"name": "greet", "template": "Hello, {{ user }}!", "arguments": [{"name": "user"}]})
    api.post(f"/prompts/{greet['id']}/disable")
    create(api, "gateways", {"name": "upstream", "url": "http://localhost:9100/sse", "transport": "SSE"})
    create(api, "servers", {
        "name": "ops", "tool_ids": [clock["id"]], "resource_ids": [readme["id"]], "prompt_ids": [greet["id"]],
    })


def moment(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


def test_the_catalog_survives_a_restart(database_url, start_forge):
    first = start_forge(database_url=database_url)
    with httpx.Client(base_url=first.url) as api:
        seed(api)
        before = catalog(api)
    first.stop()

    second = start_forge(database_url=database_url)
    with httpx.Client(base_url=second.url) as api:
        assert catalog(api) == before
        assert api.get("/ready").json()["database"] == "ok"
    # What MCP clients see is rebuilt from the store: enabled entities only.
    assert [tool["name"] for tool in second.gateway.catalog.all.listed["tools"]] == ["clock_tool"]
    assert second.gateway.catalog.all.listed["prompts"] == []


def test_timestamps_are_utc_instants(database_url, start_forge):
    server = start_forge(database_url=database_url)
    with httpx.Client(base_url=server.url) as api:
        earliest = datetime.now(UTC) - timedelta(seconds=1)  # the database may round to its precision
        tool = create(api, "tools", {"name": "t", "url": "http://localhost:9000/t"})
        updated = api.patch(f"/tools/{tool['id']}", json={"description": "d"}).json()
        latest = datetime.now(UTC) + timedelta(seconds=1)
        stored = api.get(f"/tools/{tool['id']}").json()
    assert earliest <= moment(tool["created_at"]) <= moment(updated["updated_at"]) <= latest
    assert moment(updated["created_at"]) == moment(tool["created_at"])
    assert (stored["created_at"], stored["updated_at"]) == (updated["created_at"], updated["updated_at"])


def test_the_crud_flow(database_url, start_forge):
    server = start_forge(database_url=database_url)
    with httpx.Client(base_url=server.url) as api:
        seed(api)
        ids = {kind: {item.get("name") or item["uri"]: item["id"] for item in items} for kind, items in catalog(api).items()}
        clock, ops, upstream = ids["tools"]["clock_tool"], ids["servers"]["ops"], ids["gateways"]["upstream"]

        # Names are unique, whoever asks.
        assert api.post("/tools", json={"name": "clock_tool", "url": "http://localhost:9000/x"}).status_code == 409
        assert api.patch(f"/servers/{ops}", json={"name": "ops"}).status_code == 200  # its own name is fine
        # A failed update changes nothing, not even the fields that were valid.
        before = catalog(api)
        assert api.patch(f"/servers/{ops}", json={"name": "renamed", "tool_ids": ["missing"]}).status_code == 422
        assert catalog(api) == before

        # A federated tool belongs to its gateway: deleting the gateway takes it, and its memberships.
        server.run(server.gateway.store.create("tools", {"name": "remote", "url": "http://x/y", "gateway_id": upstream}))
        remote = api.get("/tools", params={"gateway_id": upstream}).json()["items"][0]
        api.patch(f"/servers/{ops}", json={"tool_ids": [clock, remote["id"]]})
        assert api.delete(f"/gateways/{upstream}").status_code == 204
        assert api.get(f"/tools/{remote['id']}").status_code == 404
        assert api.get(f"/servers/{ops}").json()["tool_ids"] == [clock]

        # A held tool is deleted only when forced, and leaves the server it was in.
        assert api.delete(f"/tools/{clock}").status_code == 409
        assert api.delete(f"/tools/{clock}", params={"force": "true"}).status_code == 204
        assert api.get(f"/servers/{ops}").json()["tool_ids"] == []

        # Deleting the server leaves its other members alone.
        assert api.delete(f"/servers/{ops}").status_code == 204
        left = catalog(api)
        assert [len(left[kind]) for kind in KINDS] == [0, 2, 1, 0, 0]


def test_concurrent_creates_of_one_name_make_one_entity(database_url, start_forge):
    server = start_forge(database_url=database_url)
    payload = {"name": "contested", "url": "http://localhost:9000/rpc"}

    def attempt(_):
        with httpx.Client(base_url=server.url, timeout=60) as api:
            return api.post("/tools", json=payload).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [201] + [409] * 7
    with httpx.Client(base_url=server.url) as api:
        assert api.get("/tools").json()["total"] == 1


@pytest.mark.postgres
async def test_migrations_give_postgresql_zoned_timestamps_json_and_cascading_keys(postgres_url):
    store = Store(Settings(database_url=postgres_url, _env_file=None).async_database_url)
    await store.open()
    try:
        async with store.engine.connect() as connection:
            schema = await connection.run_sync(_describe)
    finally:
        await store.close()
    assert schema["version"] == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert schema["tools.created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert schema["tools.input_schema"] == "JSON"
    assert schema["server_tools.tool_id"] == "CASCADE"
    assert schema["tools.gateway_id"] == "CASCADE"


def _describe(connection) -> dict:
    inspector = inspect(connection)
    columns = {column["name"]: column["type"] for column in inspector.get_columns("tools")}
    keys = {
        f"{table}.{key['constrained_columns'][0]}": key["options"].get("ondelete")
        for table in ("tools", "server_tools")
        for key in inspector.get_foreign_keys(table)
    }
    version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return {
        "version": version,
        "tools.created_at": str(columns["created_at"].compile(dialect=connection.dialect)),
        "tools.input_schema": str(columns["input_schema"].compile(dialect=connection.dialect)),
        **keys,
    }
