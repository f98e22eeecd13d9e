"""Catalog export and import: the whole catalog as one versioned JSON document, members named
rather than numbered, secrets left out or sealed under a passphrase; importing it (or a
ContextForge export) gives the catalog back, changes nothing when repeated, and changes nothing
at all when any part of the document is wrong."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ResourceUpdated

from forge.cli import build_cli
from forge.services.catalog_io import SecretBox
from forge_plugins.auth_basic_jwt import create_token

DATA = Path(__file__).parent / "data"
PASSPHRASE = "correct horse battery staple"
# Has a space, so it can never turn up by chance inside base64 ciphertext.
API_KEY = "key one"
KINDS = ("tools", "resources", "prompts", "servers", "gateways")


@pytest.fixture
def forge(start_forge):
    # Gateways are created here as entries of the catalog; nobody needs them connected.
    return start_forge(plugins_disabled=["federation"])


def created(answer) -> dict:
    assert answer.status_code == 201, answer.text
    return answer.json()


def build_catalog(api, upstream: str) -> None:
    item = created(
        api.post(
            "/tools",
            json={
                "name": "get_item",
                "url": upstream + "/items/{id}",
                "method": "GET",
                "description": "Fetch one item",
                "headers": {"X-Api-Key": API_KEY},
                "annotations": {"readOnlyHint": True},
                "timeout": 5,
                "input_schema": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}},
                    "required": ["id"],
                },
            },
        )
    )
    order = created(
        api.post("/tools", json={"name": "create_order", "url": upstream + "/orders", "enabled": False})
    )
    readme = created(
        api.post(
            "/resources",
            json={
                "uri": "docs://readme",
                "name": "readme",
                "content": "Hello  \n",
                "mime_type": "text/markdown",
            },
        )
    )
    created(api.post("/resources", json={"uri": "bin://logo", "blob": base64.b64encode(b"\x89PNG").decode()}))
    created(
        api.post(
            "/resources",
            json={
                "uri": "items://{id}",
                "name": "item",
                "content": "an item",
                "completions": {"id": ["1", "2"]},
            },
        )
    )
    greet = created(
        api.post(
            "/prompts",
            json={
                "name": "greet",
                "template": "Hello, {{ user }}!",
                "arguments": [{"name": "user", "required": True}],
            },
        )
    )
    created(
        api.post(
            "/gateways",
            json={
                "name": "upstream",
                "url": "http://127.0.0.1:9/mcp",
                "headers": {"Authorization": "Bearer gw"},
                "prefix": "up",
                "enabled": False,
            },
        )
    )
    created(
        api.post(
            "/servers",
            json={
                "name": "shop",
                "description": "The shop",
                "tool_ids": [item["id"], order["id"]],
                "resource_ids": [readme["id"]],
                "prompt_ids": [greet["id"]],
            },
        )
    )
    created(api.post("/servers", json={"name": "empty"}))


def wipe(api) -> None:
    for kind in ("servers", "tools", "resources", "prompts", "gateways"):
        for entity in api.get(f"/{kind}", params={"limit": 1000}).json()["items"]:
            assert api.delete(f"/{kind}/{entity['id']}").status_code == 204
    assert all(api.get(f"/{kind}").json()["total"] == 0 for kind in KINDS)


def export(api, **headers) -> dict:
    params = {"include_secrets": "true"} if headers else {}
    answer = api.get("/export", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def unsealed(document: dict) -> dict:
    """The document with sealed header values opened and the export's own metadata left out."""
    document = copy.deepcopy(document)
    box = SecretBox.for_document(PASSPHRASE, document.pop("encryption")) if "encryption" in document else None
    for name in ("exported_at", "secrets"):
        document.pop(name)
    for kind in ("tools", "gateways"):
        for entity in document[kind]:
            entity["headers"] = {k: box.open(v) if box else v for k, v in entity["headers"].items()}
    return document


def stored_headers(api) -> dict[str, dict[str, dict]]:
    """Header values as stored, by kind and name: the API shows names only, a sealed export all."""
    document = unsealed(export(api, **{"X-Forge-Passphrase": PASSPHRASE}))
    return {
        kind: {entity["name"]: entity["headers"] for entity in document[kind]}
        for kind in ("tools", "gateways")
    }


def import_catalog(api, document: dict, **options) -> dict:
    answer = api.post("/import", json={"document": document, **options})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_export_then_wipe_then_import_gives_the_catalog_back(api, rest_upstream):
    build_catalog(api, rest_upstream)
    masked = export(api)
    sealed = export(api, **{"X-Forge-Passphrase": PASSPHRASE})

    assert masked["forge_export_version"] == 1 and masked["secrets"] == "masked"
    (item,) = [t for t in masked["tools"] if t["name"] == "get_item"]
    assert item["headers"] == {"X-Api-Key": None}
    assert masked["servers"][1] == {
        "name": "shop",
        "description": "The shop",
        "icon": None,
        "enabled": True,
        "tools": ["create_order", "get_item"],
        "resources": ["docs://readme"],
        "prompts": ["greet"],
    }
    assert API_KEY not in json.dumps(sealed) and "Bearer gw" not in json.dumps(sealed)
    assert not any("id" in entity for kind in KINDS for entity in masked[kind])

    wipe(api)
    report = import_catalog(api, sealed, passphrase=PASSPHRASE)
    assert report["format"] == "forge" and report["warnings"] == []
    assert report["created"] == {
        "gateways": ["upstream"],
        "tools": ["create_order", "get_item"],
        "resources": ["bin://logo", "docs://readme", "items://{id}"],
        "prompts": ["greet"],
        "servers": ["empty", "shop"],
    }
    assert unsealed(export(api, **{"X-Forge-Passphrase": PASSPHRASE})) == unsealed(sealed)
    assert unsealed(export(api)) == unsealed(masked)


async def test_imported_tools_answer_mcp_clients(forge, api, rest_upstream):
    build_catalog(api, rest_upstream)
    sealed = export(api, **{"X-Forge-Passphrase": PASSPHRASE})
    wipe(api)
    import_catalog(api, sealed, passphrase=PASSPHRASE)
    shop = api.get("/servers", params={"search": "shop"}).json()["items"][0]
    async with Client(streamable_http_client(f"{forge.url}/servers/{shop['id']}/mcp")) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == [
            "get_item"
        ]  # create_order is disabled
        result = await client.call_tool("get_item", {"id": "7"})
        seen = json.loads(result.content[0].text)
    assert seen["path"] == "/items/7" and seen["headers"]["x-api-key"] == API_KEY


def test_importing_twice_changes_nothing_the_second_time(api, rest_upstream):
    build_catalog(api, rest_upstream)
    document = export(api)  # secrets left out: the catalog's own values stay
    stamps = {t["name"]: t["updated_at"] for t in api.get("/tools").json()["items"]}
    for _ in range(2):
        report = import_catalog(api, document)
        assert all(
            entries == []
            for section in ("created", "updated", "skipped")
            for entries in report[section].values()
        )
        assert report["unchanged"]["tools"] == ["create_order", "get_item"]
        assert report["unchanged"]["servers"] == ["empty", "shop"]
        assert report["warnings"] == []
    assert {t["name"]: t["updated_at"] for t in api.get("/tools").json()["items"]} == stamps
    assert stored_headers(api)["tools"]["get_item"] == {"X-Api-Key": API_KEY}


def test_secrets_left_out_of_an_export_are_named_when_it_is_imported_elsewhere(api, rest_upstream):
    build_catalog(api, rest_upstream)
    document = export(api)
    wipe(api)
    report = import_catalog(api, document)
    assert report["warnings"] == [
        "gateway 'upstream': header(s) Authorization had their values left out of the export and were not set",
        "tool 'get_item': header(s) X-Api-Key had their values left out of the export and were not set",
    ]
    (item,) = [t for t in api.get("/tools").json()["items"] if t["name"] == "get_item"]
    assert item["headers"] == {}


def test_on_conflict_skips_updates_or_renames(api, rest_upstream):
    build_catalog(api, rest_upstream)
    document = export(api)
    (item,) = [t for t in document["tools"] if t["name"] == "get_item"]
    item["description"] = "Fetch one item, fast"

    skipped = import_catalog(api, document, on_conflict="skip")
    assert skipped["skipped"]["tools"] == ["get_item"] and skipped["unchanged"]["tools"] == ["create_order"]
    assert skipped["unchanged"]["servers"] == ["empty", "shop"]

    renamed = import_catalog(api, document, on_conflict="rename")
    assert renamed["renamed"]["tools"] == [{"from": "get_item", "to": "get_item_imported"}]
    # The document's server named the tool, so its copy holds the renamed one.
    assert renamed["renamed"]["servers"] == [{"from": "shop", "to": "shop_imported"}]
    servers = {s["name"]: s for s in api.get("/servers").json()["items"]}
    tools = {t["name"]: t for t in api.get("/tools").json()["items"]}
    assert tools["get_item_imported"]["id"] in servers["shop_imported"]["tool_ids"]
    assert tools["get_item"]["description"] == "Fetch one item"

    updated = import_catalog(api, document, on_conflict="update")
    assert updated["updated"]["tools"] == [{"name": "get_item", "fields": ["description"]}]
    tools = {t["name"]: t for t in api.get("/tools").json()["items"]}
    assert tools["get_item"]["description"] == "Fetch one item, fast"
    assert stored_headers(api)["tools"]["get_item"] == {"X-Api-Key": API_KEY}  # left out of the document: kept


def test_a_dry_run_answers_the_plan_and_changes_nothing(api, rest_upstream):
    build_catalog(api, rest_upstream)
    document = export(api)
    wipe(api)
    report = import_catalog(api, document, dry_run=True)
    assert report["dry_run"] is True and report["created"]["tools"] == ["create_order", "get_item"]
    assert all(api.get(f"/{kind}").json()["total"] == 0 for kind in KINDS)


async def test_a_contextforge_export_becomes_working_tools_servers_and_gateways(forge, api, rest_upstream):
    document = json.loads(
        (DATA / "contextforge-export.json").read_text().replace("http://rest-upstream.test", rest_upstream)
    )
    report = import_catalog(api, document)  # its credentials were encrypted with the default secret
    assert report["format"] == "contextforge"
    assert report["created"] == {
        "gateways": ["time-server", "docs-search"],
        "tools": ["weather-current", "create_ticket", "translate_text"],
        "resources": ["docs://support/runbook"],
        "prompts": ["incident-summary", "greeting"],
        "servers": ["support-desk", "weather only"],
    }
    assert report["warnings"] == [
        "tool 'translate text' is named 'translate_text': MCP tool names allow only A-Z a-z 0-9 _ . / -",
        "tool 'translate_text': its JSONPath filter was left out (Forge answers the whole response)",
        "tool 'hr-agent': integration type A2A left out (only REST tools are imported; MCP tools come back with their gateway)",
        "1 root(s) left out: roots are not part of Forge's catalog",
        "1 resource(s) came without content (ContextForge exports none) and are empty",
        "servers[0]: unknown tool '9f1c2e7ab04d4c1f8d2e5b6a7c8d9e0f' left out of the server",
    ]
    tools = {t["name"]: t for t in api.get("/tools").json()["items"]}
    headers = stored_headers(api)
    assert headers["tools"]["translate_text"] == {"Authorization": "Basic dHJhbnNsYXRvcjpzM2NyZXQ="}
    assert (
        tools["translate_text"]["enabled"] is False
        and tools["translate_text"]["original_name"] == "translate text"
    )
    gateways = {g["name"]: g for g in api.get("/gateways").json()["items"]}
    assert gateways["time-server"]["transport"] == "sse"
    assert headers["gateways"]["time-server"] == {"Authorization": "Bearer gw-secret"}
    assert gateways["docs-search"]["transport"] == "streamable_http"
    (prompt,) = [p for p in api.get("/prompts").json()["items"] if p["name"] == "incident-summary"]
    assert prompt["argument_schema"]["required"] == ["incident_id"]
    servers = {s["name"]: s for s in api.get("/servers").json()["items"]}
    desk = servers["support-desk"]
    assert sorted(desk["tool_ids"]) == sorted(
        tools[n]["id"] for n in ("create_ticket", "weather-current", "translate_text")
    )

    async with Client(streamable_http_client(f"{forge.url}/servers/{desk['id']}/mcp")) as client:
        weather = json.loads(
            (await client.call_tool("weather-current", {"city": "Paris", "units": "metric"})).content[0].text
        )
        ticket = json.loads(
            (await client.call_tool("create_ticket", {"title": "Printer on fire"})).content[0].text
        )
    assert (weather["path"], weather["query"]) == ("/weather/Paris", {"units": "metric"})
    assert weather["headers"]["authorization"] == "Bearer wx-token-123"
    assert weather["headers"]["accept"] == "application/json"
    assert ticket["headers"]["x-api-key"] == "tk-456" and ticket["json"] == {"title": "Printer on fire"}

    again = import_catalog(api, document)
    assert again["created"]["tools"] == [] and again["unchanged"]["tools"] == [
        "weather-current",
        "create_ticket",
        "translate_text",
    ]


def test_contextforge_credentials_need_the_secret_they_were_encrypted_with(api, rest_upstream):
    document = json.loads((DATA / "contextforge-export.json").read_text())
    report = import_catalog(api, document, source_secret="another-secret", dry_run=True)
    assert (
        "tool 'weather-current': its bearer credentials were left out: they cannot be decrypted with the given "
        "source secret (the exporting ContextForge's AUTH_ENCRYPTION_SECRET)" in report["warnings"]
    )


def bad(document: dict, **changes) -> dict:
    document = copy.deepcopy(document)
    for path, value in changes.items():
        kind, index, field = path.split("__")
        document[kind][int(index)][field] = value
    return document


@pytest.mark.parametrize(
    ("mutate", "message", "details"),
    [
        (
            lambda d: {"hello": "world"},
            (
                'not a catalog export: a Forge export has "forge_export_version", '
                'a ContextForge export has "version" and "entities"'
            ),
            None,
        ),
        (
            lambda d: d | {"forge_export_version": 2},
            "forge_export_version 2 is newer than this Forge reads (1)",
            None,
        ),
        (
            lambda d: d | {"tools": {"a": 1}},
            "the document is not a Forge catalog export",
            [{"field": "tools", "message": "must be a list"}],
        ),
        (
            lambda d: bad(d, tools__1__url="ftp://example.com/x"),
            "the document has 1 problem(s); nothing was imported",
            [{"field": "tools[1].url", "message": "must be an http:// or https:// URL with a host"}],
        ),
        (
            lambda d: bad(d, servers__1__tools=["get_item", "nope"]),
            "the document has 1 problem(s); nothing was imported",
            [{"field": "servers[1].tools[1]", "message": "unknown tool 'nope'"}],
        ),
        (
            lambda d: d | {"prompts": d["prompts"] * 2},
            "the document has 1 problem(s); nothing was imported",
            [{"field": "prompts[1].name", "message": "'greet' appears twice in the document"}],
        ),
        (
            lambda d: d | {"secrets": "encrypted"},
            "the document's secrets are encrypted: give the passphrase it was exported with",
            None,
        ),
    ],
)
def test_a_bad_document_is_refused_with_its_problems_and_changes_nothing(
    api, rest_upstream, mutate, message, details
):
    build_catalog(api, rest_upstream)
    document = export(api)
    for kind in KINDS:  # make every entity different, so a partial import would show
        for entity in document[kind]:
            if "description" in entity:
                entity["description"] = "changed"
    document["tools"].append({"name": "brand_new", "url": rest_upstream + "/new"})
    before = unsealed(export(api))
    answer = api.post("/import", json={"document": mutate(document)})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["message"], error.get("details")) == ("invalid_document", message, details)
    assert unsealed(export(api)) == before


def test_a_wrong_passphrase_is_refused(api, rest_upstream):
    build_catalog(api, rest_upstream)
    sealed = export(api, **{"X-Forge-Passphrase": PASSPHRASE})
    answer = api.post("/import", json={"document": sealed, "passphrase": "wrong"})
    assert answer.status_code == 422
    assert (
        answer.json()["error"]["message"]
        == "wrong passphrase: the document's secrets cannot be decrypted with it"
    )
    assert (
        api.get("/export", params={"include_secrets": "true"}).json()["error"]["code"]
        == "passphrase_required"
    )


def test_a_write_failing_midway_leaves_the_catalog_as_it_was(forge, api, rest_upstream, monkeypatch):
    build_catalog(api, rest_upstream)
    document = export(api)
    document["tools"][1]["description"] = "changed"  # get_item: an update
    document["tools"].append({"name": "brand_new", "url": rest_upstream + "/new"})  # a create
    document["resources"].append({"uri": "docs://new", "text": "new"})  # the write that fails
    before = unsealed(export(api))
    store = forge.gateway.store
    real_create = store.create

    async def failing_create(kind, values):
        if kind == "resources":
            raise RuntimeError("disk full")
        return await real_create(kind, values)

    monkeypatch.setattr(store, "create", failing_create)
    answer = api.post("/import", json={"document": document})
    assert answer.status_code == 500
    monkeypatch.undo()
    assert unsealed(export(api)) == before


def test_a_bare_document_and_contextforge_option_names_are_accepted(api, rest_upstream):
    build_catalog(api, rest_upstream)
    document = export(api)
    assert api.post("/import", json=document).json()["unchanged"]["tools"] == ["create_order", "get_item"]
    answer = api.post("/import", json={"import_data": document, "conflict_strategy": "skip", "dry_run": True})
    assert answer.status_code == 200 and answer.json()["dry_run"] is True


def test_the_cli_exports_and_imports(forge, api, rest_upstream, tmp_path):
    build_catalog(api, rest_upstream)
    cli = build_cli()
    exported = CliRunner().invoke(
        cli, ["export", "--url", forge.url, "--include-secrets", "--passphrase", PASSPHRASE]
    )
    assert exported.exit_code == 0, exported.output
    file = tmp_path / "catalog.json"
    file.write_text(exported.output)
    wipe(api)

    planned = CliRunner().invoke(
        cli,
        ["import", "catalog", str(file), "--url", forge.url, "--dry-run"],
        env={"FORGE_EXPORT_PASSPHRASE": PASSPHRASE},
    )
    assert planned.exit_code == 0, planned.output
    assert planned.output.splitlines()[:3] == [
        "forge document (dry run: nothing changed)",
        "  created gateways upstream",
        "  created tools create_order, get_item",
    ]
    done = CliRunner().invoke(
        cli, ["import", "catalog", str(file), "--url", forge.url, "--passphrase", PASSPHRASE]
    )
    assert done.exit_code == 0, done.output
    assert unsealed(json.loads(exported.output)) == unsealed(
        export(api, **{"X-Forge-Passphrase": PASSPHRASE})
    )

    document = json.loads(exported.output)
    document["tools"][0]["url"] = "not a url"
    file.write_text(json.dumps(document))
    refused = CliRunner().invoke(
        cli, ["import", "catalog", str(file), "--url", forge.url, "--passphrase", PASSPHRASE]
    )
    assert refused.exit_code == 1
    assert refused.output.splitlines() == [
        "forge: the document has 1 problem(s); nothing was imported",
        "  tools[0].url: must be an http:// or https:// URL with a host",
    ]
    no_passphrase = CliRunner().invoke(cli, ["export", "--url", forge.url, "--include-secrets"])
    assert (
        no_passphrase.exit_code == 1 and "forge: --include-secrets needs --passphrase" in no_passphrase.output
    )
    unreachable = CliRunner().invoke(cli, ["export", "--url", "http://127.0.0.1:9"])
    assert (
        unreachable.exit_code == 1 and "forge: cannot reach Forge at http://127.0.0.1:9" in unreachable.output
    )


def test_export_and_import_are_for_administrators(start_forge, rest_upstream):
    forge = start_forge(auth_required=True, jwt_secret_key="k" * 32, plugins_disabled=["federation"])
    reader = create_token("reader", "k" * 32, scopes=["read"])
    answer = httpx.get(forge.url + "/export", headers={"Authorization": f"Bearer {reader}"})
    assert answer.status_code == 403
    # The commands use FORGE_TOKEN, or else the Basic credentials of the settings (admin/changeme here).
    by_basic = CliRunner().invoke(build_cli(), ["export", "--url", forge.url])
    assert by_basic.exit_code == 0, by_basic.output
    assert json.loads(by_basic.output)["forge_export_version"] == 1
    refused = CliRunner().invoke(build_cli(), ["export", "--url", forge.url], env={"FORGE_TOKEN": reader})
    assert refused.exit_code == 1 and refused.output.startswith("forge: 'reader' may not admin catalog")


async def test_subscribers_hear_of_a_resource_an_import_changed(forge, api, rest_upstream):
    build_catalog(api, rest_upstream)
    document = export(api)
    (readme,) = [r for r in document["resources"] if r["uri"] == "docs://readme"]
    readme["text"] = "Hello again"
    async with (
        Client(streamable_http_client(forge.url + "/mcp")) as client,
        client.listen(resource_subscriptions=["docs://readme"]) as subscription,
    ):
        report = import_catalog(api, document)
        assert report["updated"]["resources"] == [{"name": "docs://readme", "fields": ["text"]}]
        with anyio.fail_after(5):
            assert await subscription.__anext__() == ResourceUpdated(uri="docs://readme")
        assert (await client.read_resource("docs://readme")).contents[0].text == "Hello again"
