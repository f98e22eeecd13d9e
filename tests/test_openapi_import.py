"""OpenAPI import: each operation of an OpenAPI 3.0/3.1 or Swagger 2.0 document becomes a REST
tool that MCP clients list and call; a dry run changes nothing; a re-import updates what changed
and says so, operation by operation."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from click.testing import CliRunner
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from forge.cli import build_cli
from forge.services.openapi_import import ImportOptions, convert, load_document

DATA = Path(__file__).parent / "data"
TOOL_NAME = re.compile(r"^[A-Za-z0-9_./-]{1,64}$")
PETS = [{"id": 1, "name": "Rex", "tag": "dog"}, {"id": 2, "name": "Tabby", "tag": "cat"}]


def spec(name: str) -> dict:
    return load_document((DATA / name).read_bytes())


class PetstoreHandler(BaseHTTPRequestHandler):
    """A stand-in for petstore.swagger.io: GET /v1/pets and GET /v1/pets/{petId}, and the
    document itself at /openapi.yaml with a server URL relative to it."""

    def do_GET(self):
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        if url.path == "/openapi.yaml":
            document = spec("petstore-3.0.yaml")
            document["servers"] = [{"url": "/v1"}]
            self._send(200, yaml.safe_dump(document).encode(), "application/yaml")
        elif url.path == "/v1/pets":
            self._json(200, PETS[: int(query.get("limit", 100))])
        elif match := re.fullmatch(r"/v1/pets/([^/]+)", url.path):
            pet = next((p for p in PETS if str(p["id"]) == match.group(1)), None)
            self._json(200, pet) if pet else self._json(404, {"code": 404, "message": "no such pet"})
        else:
            self._json(404, {"code": 404, "message": "not found"})

    def _json(self, status: int, payload) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def petstore_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PetstoreHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def petstore(petstore_server) -> str:
    """The stand-in's base URL, as a `base_url` option names it."""
    return petstore_server + "/v1"


def import_openapi(api, **body) -> dict:
    answer = api.post("/tools/import/openapi", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def tools_by_name(api) -> dict[str, dict]:
    return {tool["name"]: tool for tool in api.get("/tools", params={"limit": 1000}).json()["items"]}


def echoed(result) -> dict:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def test_the_petstore_becomes_tools_an_mcp_client_lists_and_calls(forge, api, petstore):
    report = import_openapi(api, spec=spec("petstore-3.0.yaml"), base_url=petstore)
    assert report["api"] == {"title": "Swagger Petstore", "version": "1.0.0", "base_url": petstore}
    assert report["created"] == ["listPets", "createPets", "showPetById"]
    assert report["updated"] == report["unchanged"] == report["skipped"] == report["warnings"] == []

    async with Client(streamable_http_client(forge.url + "/mcp")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"listPets", "createPets", "showPetById"}
        show = tools["showPetById"]
        assert show.description == "Info for a specific pet"
        assert show.input_schema == {
            "type": "object",
            "properties": {"petId": {"type": "string", "description": "The id of the pet to retrieve"}},
            "required": ["petId"],
        }
        assert show.annotations.read_only_hint is True and show.annotations.title == "Info for a specific pet"
        # The request body's fields ($ref to Pet) are the tool's own arguments.
        assert tools["createPets"].input_schema["required"] == ["id", "name"]
        assert tools["createPets"].annotations.read_only_hint is False

        assert echoed(await client.call_tool("showPetById", {"petId": "2"})) == PETS[1]
        assert echoed(await client.call_tool("listPets", {"limit": 1})) == PETS[:1]
        missing = await client.call_tool("showPetById", {"petId": "99"})
        assert missing.is_error and "HTTP 404" in missing.content[0].text


def test_a_dry_run_answers_the_plan_and_changes_nothing(api, petstore):
    planned = import_openapi(api, spec=spec("petstore-3.0.yaml"), base_url=petstore, dry_run=True)
    assert planned["dry_run"] is True
    assert planned["created"] == ["listPets", "createPets", "showPetById"]
    assert api.get("/tools").json()["total"] == 0

    import_openapi(api, spec=spec("petstore-3.0.yaml"), base_url=petstore)
    before = tools_by_name(api)
    edited = spec("petstore-3.0.yaml")
    edited["paths"]["/pets"]["get"]["summary"] = "List the pets"
    planned = import_openapi(api, spec=edited, base_url=petstore, dry_run=True, prune=True)
    assert planned["updated"] == [{"name": "listPets", "fields": ["description", "annotations"]}]
    assert tools_by_name(api) == before


def test_a_reimport_reports_exactly_the_operations_that_changed(api, petstore):
    import_openapi(api, spec=spec("petstore-3.0.yaml"), base_url=petstore)
    first = tools_by_name(api)

    edited = spec("petstore-3.0.yaml")
    edited["paths"]["/pets/{petId}"]["get"]["summary"] = "Details of one pet"
    del edited["paths"]["/pets"]["post"]  # createPets is gone
    edited["paths"]["/pets/{petId}"]["delete"] = {
        "operationId": "deletePet",
        "summary": "Delete a pet",
        "parameters": [{"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"204": {"description": "deleted"}},
    }
    report = import_openapi(api, spec=edited, base_url=petstore)
    assert report["created"] == ["deletePet"]
    assert report["updated"] == [{"name": "showPetById", "fields": ["description", "annotations"]}]
    assert report["unchanged"] == ["listPets"]
    assert report["removed_from_spec"] == ["createPets"]  # left alone without prune
    assert report["pruned"] == []

    now = tools_by_name(api)
    assert set(now) == {"listPets", "createPets", "showPetById", "deletePet"}
    assert now["showPetById"]["id"] == first["showPetById"]["id"]  # updated in place
    assert now["showPetById"]["description"] == "Details of one pet"
    assert now["listPets"]["updated_at"] == first["listPets"]["updated_at"]
    assert now["deletePet"]["annotations"]["destructiveHint"] is True

    again = import_openapi(api, spec=edited, base_url=petstore, prune=True)
    assert again["created"] == again["updated"] == []
    assert again["unchanged"] == ["listPets", "showPetById", "deletePet"]
    assert again["pruned"] == ["createPets"]
    assert set(tools_by_name(api)) == {"listPets", "showPetById", "deletePet"}


def test_prune_keeps_a_tool_a_virtual_server_holds(api, petstore):
    import_openapi(api, spec=spec("petstore-3.0.yaml"), base_url=petstore)
    create = tools_by_name(api)["createPets"]
    api.post("/servers", json={"name": "shop", "tool_ids": [create["id"]]}).raise_for_status()
    edited = spec("petstore-3.0.yaml")
    del edited["paths"]["/pets"]["post"]
    report = import_openapi(api, spec=edited, base_url=petstore, prune=True)
    assert report["removed_from_spec"] == ["createPets"] and report["pruned"] == []
    assert report["warnings"] == ["'createPets' was kept: virtual server(s) shop hold it"]
    assert "createPets" in tools_by_name(api)


async def test_openapi_3_1_credentials_headers_and_query_parameters_reach_the_api(forge, api, rest_upstream):
    report = import_openapi(api, spec=spec("petstore-3.1.yaml"), base_url=rest_upstream, credential="k-123")
    assert report["created"] == [
        "updatePet",
        "addPet",
        "findPetsByStatus",
        "getPetById",
        "deletePet",
        "uploadFile",
        "getInventory",
        "placeOrder",
    ]
    assert report["warnings"] == [
        "POST /pet/{petId}/uploadImage: the optional request body (application/octet-stream) is not JSON and was left out"
    ]
    tools = tools_by_name(api)
    # The spec's security scheme is an API key in the header "api_key"; public operations get none.
    # (the API shows header names only; the calls below show the values sent)
    assert set(tools["getPetById"]["headers"]) == {"api_key"}
    assert tools["getInventory"]["headers"] == {}
    pet = tools["addPet"]["input_schema"]["properties"]
    assert pet["nickname"] == {"type": ["string", "null"]}
    assert pet["category"]["description"] == "The pet's category, if it has one"  # a $ref's sibling is kept
    assert "id" not in tools["placeOrder"]["input_schema"]["properties"]  # read-only: not sent

    async with Client(streamable_http_client(forge.url + "/mcp")) as client:
        seen = echoed(await client.call_tool("getPetById", {"petId": 7, "X-Request-Id": "r-1"}))
        assert (seen["method"], seen["path"]) == ("GET", "/pet/7")
        assert seen["headers"]["api_key"] == "k-123" and seen["headers"]["x-request-id"] == "r-1"
        assert "x-request-id" not in json.dumps(seen["query"]).lower()

        seen = echoed(await client.call_tool("uploadFile", {"petId": 3, "additionalMetadata": "front"}))
        assert (seen["method"], seen["path"], seen["query"]) == (
            "POST",
            "/pet/3/uploadImage",
            {"additionalMetadata": "front"},
        )

        seen = echoed(await client.call_tool("getInventory", {}))
        assert "api_key" not in seen["headers"]


def test_the_server_url_comes_from_the_document_with_its_variables(api):
    report = import_openapi(api, spec=spec("petstore-3.1.yaml"), dry_run=True)
    assert report["api"]["base_url"] == "https://sandbox.petstore.example/api/v3"
    swagger = import_openapi(api, spec=spec("petstore-2.0.yaml"), dry_run=True)
    assert swagger["api"] == {
        "title": "Swagger Petstore",
        "version": "1.0.7",
        "base_url": "https://petstore.swagger.io/v2",
    }
    assert swagger["created"] == ["addPet", "findPetsByStatus", "getPetById", "updatePetWithForm"]


def test_swagger_2_body_and_form_parameters_become_arguments():
    converted = convert(spec("petstore-2.0.yaml"), ImportOptions(headers={"api_key": "k"}))
    tools = {tool["name"]: tool for tool in converted.tools}
    add = tools["addPet"]["input_schema"]
    assert add["required"] == ["name", "photoUrls"]
    assert (
        add["properties"]["status"]["type"] == ["string", "null"]
        and None in add["properties"]["status"]["enum"]
    )
    form = tools["updatePetWithForm"]["input_schema"]
    assert set(form["properties"]) == {"petId", "name", "status"} and form["required"] == ["petId"]
    assert converted.warnings == [
        "POST /pet/{petId}: form parameter 'name' is sent in a JSON body, not form-encoded",
        "POST /pet/{petId}: form parameter 'status' is sent in a JSON body, not form-encoded",
    ]
    assert tools["getPetById"]["headers"] == {"api_key": "k"}


async def test_a_github_shaped_api_imports_with_a_prefix_filters_and_a_bearer_token(
    forge, api, rest_upstream
):
    report = import_openapi(
        api,
        spec=spec("github-subset.yaml"),
        base_url=rest_upstream,
        prefix="gh.",
        exclude_tags=["gists"],
        credential="ghp_secret",
    )
    assert len(report["created"]) == 31
    assert report["skipped"] == [
        {"operation": "HEAD /", "reason": "method HEAD is not one a REST tool can use"},
        {
            "operation": "POST /markdown/raw",
            "reason": "its request body (text/plain) is not JSON, and the REST adapter sends JSON",
        },
    ]
    tools = tools_by_name(api)
    assert all(TOOL_NAME.match(name) and name.startswith("gh.") for name in tools)
    assert not any(name.startswith("gh.gists/") for name in tools)
    assert tools["gh.meta/root"]["headers"] == {}  # security: [] — a public operation
    assert set(tools["gh.repos/get"]["headers"]) == {"Authorization"}
    assert tools["gh.activity/list-notifications-for-authenticated-user"]["description"].startswith(
        "(Deprecated)"
    )
    # A recursive schema ends in "any value" instead of recursing for ever.
    assert json.dumps(tools["gh.repos/get"]["input_schema"])

    async with Client(streamable_http_client(forge.url + "/mcp")) as client:
        seen = echoed(
            await client.call_tool(
                "gh.issues/add-labels", {"owner": "o", "repo": "r", "issue_number": 5, "body": ["bug"]}
            )
        )
        assert (seen["path"], seen["json"]) == ("/repos/o/r/issues/5/labels", ["bug"])
        seen = echoed(
            await client.call_tool(
                "gh.reactions/create-for-issue",
                {"owner": "o", "repo": "r", "issue_number": 5, "content": "heart", "notify": True},
            )
        )
        assert (seen["query"], seen["json"]) == ({"notify": "true"}, {"content": "heart"})
        seen = echoed(
            await client.call_tool("gh.repos/get", {"owner": "o", "repo": "r", "If-None-Match": 'W/"1"'})
        )
        assert seen["headers"]["if-none-match"] == 'W/"1"'
        assert seen["headers"]["authorization"] == "Bearer ghp_secret"

    only_search = import_openapi(
        api, spec=spec("github-subset.yaml"), include_paths=["/search/*"], prefix="s_", dry_run=True
    )
    assert only_search["created"] == ["s_search/repos", "s_search/issues-and-pull-requests"]


def test_a_recursive_schema_is_cut_where_it_repeats():
    document = spec("github-subset.yaml")
    document["paths"]["/trees"] = {
        "post": {
            "operationId": "trees/create",
            "requestBody": {
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/content-tree"}}}
            },
            "responses": {"201": {"description": "created"}},
        }
    }
    (tree,) = [t for t in convert(document).tools if t["name"] == "trees/create"]
    entries = tree["input_schema"]["properties"]["entries"]
    assert entries["items"] == {"description": "(recursive: content-tree)"}


async def test_a_property_can_name_where_its_argument_goes(forge, api, rest_upstream):
    """What imports use, open to hand-made tools: `x-forge-in` and `x-forge-name`."""
    api.post(
        "/tools",
        json={
            "name": "search",
            "url": rest_upstream + "/search",
            "method": "POST",
            "input_schema": {
                "type": "object",
                "properties": {
                    "filter_state": {
                        "type": "string",
                        "x-forge-in": "query",
                        "x-forge-name": "filter[state]",
                    },
                    "trace": {"type": "string", "x-forge-in": "header", "x-forge-name": "X-Trace"},
                    "terms": {"type": "array", "x-forge-in": "body"},
                },
            },
        },
    ).raise_for_status()
    async with Client(streamable_http_client(forge.url + "/mcp")) as client:
        seen = echoed(
            await client.call_tool("search", {"filter_state": "open", "trace": "t1", "terms": ["a", "b"]})
        )
    assert seen["query"] == {"filter[state]": "open"}
    assert seen["headers"]["x-trace"] == "t1"
    assert seen["json"] == ["a", "b"]


def test_a_document_fetched_by_url_resolves_its_relative_server(api, petstore_server):
    report = import_openapi(api, url=petstore_server + "/openapi.yaml", dry_run=True)
    assert report["api"]["base_url"] == petstore_server + "/v1"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"spec": {"hello": "world"}}, "invalid_spec", "not an OpenAPI document"),
        (
            {"spec": {"openapi": "3.0.3", "info": {"title": "t"}, "paths": {}}},
            "invalid_spec",
            "not valid OpenAPI",
        ),
        ({"spec": "REF"}, "invalid_spec", "a $ref points outside the document"),
        ({"spec": "RELATIVE"}, "invalid_spec", "give base_url"),
        ({"url": "http://127.0.0.1:9/openapi.json"}, "spec_unreachable", "cannot fetch the document"),
        ({}, "invalid_payload", "the request does not match the schema"),
        ({"spec": {}, "url": "http://x"}, "invalid_payload", "the request does not match the schema"),
    ],
)
def test_a_bad_document_is_refused_and_changes_nothing(api, body, code, message):
    if body.get("spec") == "REF":
        body["spec"] = spec("petstore-3.0.yaml")
        body["spec"]["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
            "$ref": "pets.yaml#/Pet"
        }
    elif body.get("spec") == "RELATIVE":
        body["spec"] = copy.deepcopy(spec("petstore-3.0.yaml")) | {"servers": [{"url": "/v1"}]}
    answer = api.post("/tools/import/openapi", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == code
    assert message in answer.json()["error"]["message"]
    assert api.get("/tools").json()["total"] == 0


def test_an_invalid_document_names_each_problem(api):
    broken = spec("petstore-3.0.yaml")
    del broken["info"]["version"]
    error = api.post("/tools/import/openapi", json={"spec": broken}).json()["error"]
    # The validator quotes the property with ' or " depending on its version.
    assert [(d["path"], d["message"].replace('"', "'")) for d in error["details"]] == [
        ("info", "'version' is a required property")
    ]
    lenient = import_openapi(api, spec=broken, validate_spec=False, dry_run=True)
    assert lenient["created"] == ["listPets", "createPets", "showPetById"]


def test_the_cli_imports_a_spec_file_and_shows_the_plan(forge, api, petstore):
    command = [
        "import",
        "openapi",
        str(DATA / "petstore-3.0.yaml"),
        "--url",
        forge.url,
        "--base-url",
        petstore,
    ]
    planned = CliRunner().invoke(build_cli(), [*command, "--dry-run", "--prefix", "pets_"])
    assert planned.exit_code == 0, planned.output
    assert planned.output.splitlines() == [
        f"Swagger Petstore 1.0.0 at {petstore} (dry run: nothing changed)",
        "  created    pets_listPets, pets_createPets, pets_showPetById",
    ]
    assert api.get("/tools").json()["total"] == 0

    done = CliRunner().invoke(build_cli(), [*command, "-H", "X-Api-Key: k1", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["created"] == ["listPets", "createPets", "showPetById"]
    assert set(tools_by_name(api)["listPets"]["headers"]) == {"X-Api-Key"}

    bad = CliRunner().invoke(
        build_cli(),
        ["import", "openapi", str(DATA / "github-subset.yaml"), "--url", forge.url, "--scheme", "oauth"],
    )
    assert bad.exit_code == 1
    assert "forge: the document has no security scheme 'oauth' (it has: bearer)" in bad.output

    unreadable = CliRunner().invoke(
        build_cli(), ["import", "openapi", "/nonexistent.yaml", "--url", forge.url]
    )
    assert unreadable.exit_code == 1 and "forge: cannot read /nonexistent.yaml" in unreadable.output
