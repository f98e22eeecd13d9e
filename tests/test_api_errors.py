"""Bad requests: a 4xx whose body is {"error": {"code", "message", "details"?}}, and nothing changes.

One gateway serves the module, seeded with entities of every kind. Each case sends something
wrong, checks the answer a client gets, and then reads the whole catalog back to prove that the
refused request changed nothing: no half-applied update, no stray row.
"""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ForgeServer, forge_settings

KINDS = ("tools", "resources", "prompts", "servers", "gateways")
MAX_BODY_BYTES = 64 * 1024
JSON = {"content-type": "application/json"}

TOOL = {"name": "clock_tool", "url": "http://localhost:9000/rpc", "input_schema": {"type": "object"}}
NEW_TOOL = {"name": "new_tool", "url": "http://localhost:9000/new"}
PROMPT = {"name": "greet", "template": "Hello, {{ user }}!"}
NEW_PROMPT = {"name": "new_prompt", "template": "Hi"}
GATEWAY = {"name": "upstream", "url": "http://localhost:9100/mcp", "transport": "streamable_http"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = ForgeServer(forge_settings(tmp_path_factory.mktemp("errors"), max_body_bytes=MAX_BODY_BYTES)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ids(gateway) -> dict[str, str]:
    """The seeded entities' ids: tool (held by server), other_tool, resource, prompt, server, gateway."""
    with httpx.Client(base_url=gateway.url) as client:
        def create(kind, payload):
            response = client.post(f"/{kind}", json=payload)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        seeded = {
            "tool": create("tools", TOOL),
            "other_tool": create("tools", {"name": "ping", "url": "http://localhost:9000/ping"}),
            "resource": create("resources", {"uri": "docs://readme", "content": "# Forge"}),
            "prompt": create("prompts", PROMPT),
            "gateway": create("gateways", GATEWAY),
        }
        seeded["server"] = create("servers", {"name": "ops", "tool_ids": [seeded["tool"]]})
        return seeded


@pytest.fixture
def api(gateway, ids):
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


def catalog(api) -> dict[str, list[dict]]:
    return {kind: api.get(f"/{kind}", params={"limit": 1000}).json()["items"] for kind in KINDS}


def refused(api, method: str, path: str, status: int, code: str, **request) -> dict:
    """Send a request that must be refused; answer its error once the catalog is shown unchanged."""
    before = catalog(api)
    response = api.request(method, path, **request)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "details"}
    assert catalog(api) == before, "a refused request changed the catalog"
    return error


def case(name, method, path, status, code, field=None, **request):
    return pytest.param(method, path, status, code, field, request, id=name)


INVALID_PAYLOADS = [
    # missing fields
    case("tool-without-name", "POST", "/tools", 422, "invalid_payload", "name", json={"url": NEW_TOOL["url"]}),
    case("rest-tool-without-url", "POST", "/tools", 422, "invalid_payload", "url", json={"name": "no_url"}),
    case("prompt-without-template", "POST", "/prompts", 422, "invalid_payload", "template", json={"name": "p"}),
    case("resource-without-uri", "POST", "/resources", 422, "invalid_payload", "uri", json={"content": "x"}),
    case("server-without-name", "POST", "/servers", 422, "invalid_payload", "name", json={"description": "x"}),
    case("gateway-without-url", "POST", "/gateways", 422, "invalid_payload", "url", json={"name": "g"}),
    # wrong types and values
    case("name-not-a-string", "POST", "/tools", 422, "invalid_payload", "name", json={**NEW_TOOL, "name": 42}),
    case("name-with-spaces", "POST", "/tools", 422, "invalid_payload", "name", json={**NEW_TOOL, "name": "my tool"}),
    case("schema-not-an-object", "POST", "/tools", 422, "invalid_payload", "input_schema",
         json={**NEW_TOOL, "input_schema": "object"}),
    case("header-not-a-string", "POST", "/tools", 422, "invalid_payload", "headers.X-Retries",
         json={**NEW_TOOL, "headers": {"X-Retries": 3}}),
    case("negative-timeout", "POST", "/tools", 422, "invalid_payload", "timeout", json={**NEW_TOOL, "timeout": -1}),
    case("unknown-method", "POST", "/tools", 422, "invalid_payload", "method", json={**NEW_TOOL, "method": "FETCH"}),
    case("member-ids-not-a-list", "POST", "/servers", 422, "invalid_payload", "tool_ids",
         json={"name": "s2", "tool_ids": "clock_tool"}),
    case("enabled-not-a-boolean", "PATCH", "/tools/{tool}", 422, "invalid_payload", "enabled", json={"enabled": "maybe"}),
    case("unknown-transport", "POST", "/gateways", 422, "invalid_payload", "transport",
         json={**GATEWAY, "name": "g2", "transport": "carrier-pigeon"}),
    # unknown fields
    case("unknown-field-on-create", "POST", "/tools", 422, "invalid_payload", "colour", json={**NEW_TOOL, "colour": "red"}),
    case("unknown-field-on-update", "PATCH", "/prompts/{prompt}", 422, "invalid_payload", "body", json={"body": "x"}),
    # null where every stored entity needs a value
    case("null-name", "PATCH", "/tools/{tool}", 422, "invalid_payload", "name", json={"name": None}),
    case("null-template", "PUT", "/prompts/{prompt}", 422, "invalid_payload", "template", json={"template": None}),
    case("null-gateway-url", "PATCH", "/gateways/{gateway}", 422, "invalid_payload", "url", json={"url": None}),
    case("null-rest-tool-url", "PATCH", "/tools/{tool}", 422, "invalid_payload", "url", json={"url": None}),
    case("null-member-ids", "PATCH", "/servers/{server}", 422, "invalid_payload", "tool_ids", json={"tool_ids": None}),
    # JSON Schemas and templates
    case("invalid-input-schema", "POST", "/tools", 422, "invalid_payload", "input_schema",
         json={**NEW_TOOL, "input_schema": {"type": "nope"}}),
    case("input-schema-of-a-string", "POST", "/tools", 422, "invalid_payload", "input_schema",
         json={**NEW_TOOL, "input_schema": {"type": "string"}}),
    case("invalid-argument-schema", "POST", "/prompts", 422, "invalid_payload", "argument_schema",
         json={**NEW_PROMPT, "argument_schema": {"type": "object", "required": "user"}}),
    case("unclosed-jinja-expression", "POST", "/prompts", 422, "invalid_payload", "template",
         json={**NEW_PROMPT, "template": "Hello, {{ user"}),
    case("unclosed-jinja-block", "PATCH", "/prompts/{prompt}", 422, "invalid_payload", "template",
         json={"template": "{% for line in lines %}{{ line }}"}),
    case("both-schema-and-arguments", "POST", "/prompts", 422, "invalid_payload", "",
         json={**NEW_PROMPT, "argument_schema": {"type": "object"}, "arguments": [{"name": "a"}]}),
    # URLs and URI templates
    case("ftp-tool-url", "POST", "/tools", 422, "invalid_payload", "url", json={**NEW_TOOL, "url": "ftp://host/rpc"}),
    case("tool-url-without-scheme", "POST", "/tools", 422, "invalid_payload", "url",
         json={**NEW_TOOL, "url": "localhost:9000/rpc"}),
    case("tool-url-without-host", "POST", "/tools", 422, "invalid_payload", "url", json={**NEW_TOOL, "url": "http://"}),
    case("tool-url-level-3-template", "POST", "/tools", 422, "invalid_payload", "url",
         json={**NEW_TOOL, "url": "http://localhost/{a,b}"}),
    case("tool-url-unclosed-brace", "PATCH", "/tools/{tool}", 422, "invalid_payload", "url",
         json={"url": "http://localhost/items/{id"}),
    case("gateway-url-without-scheme", "POST", "/gateways", 422, "invalid_payload", "url",
         json={"name": "g2", "url": "localhost:9100"}),
    case("http-url-for-websocket", "PATCH", "/gateways/{gateway}", 422, "invalid_payload", "url",
         json={"transport": "websocket"}),
    case("relative-resource-uri", "POST", "/resources", 422, "invalid_payload", "uri", json={"uri": "readme"}),
    case("resource-uri-unclosed-brace", "POST", "/resources", 422, "invalid_payload", "uri",
         json={"uri": "docs://pages/{page"}),
    case("resource-uri-stray-brace", "PATCH", "/resources/{resource}", 422, "invalid_payload", "uri",
         json={"uri": "docs://pages/page}"}),
    case("resource-uri-level-3-template", "POST", "/resources", 422, "invalid_payload", "uri",
         json={"uri": "docs://search{?q}"}),
    case("resource-blob-not-base64", "POST", "/resources", 422, "invalid_payload", "blob",
         json={"uri": "docs://logo", "blob": "not base64!"}),
    case("resource-text-and-blob", "POST", "/resources", 422, "invalid_payload", "",
         json={"uri": "docs://logo", "content": "x", "blob": "eA=="}),
]


@pytest.mark.parametrize(("method", "path", "status", "code", "field", "request_"), INVALID_PAYLOADS)
def test_an_invalid_payload_is_refused_and_names_the_field(api, ids, method, path, status, code, field, request_):
    error = refused(api, method, path.format(**ids), status, code, **request_)
    assert field in [detail["field"] for detail in error["details"]], error


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("tools", {**TOOL, "url": "http://localhost:9000/other"}),
        ("resources", {"uri": "docs://readme", "content": "again"}),
        ("prompts", PROMPT),
        ("servers", {"name": "ops"}),
        ("gateways", {**GATEWAY, "url": "http://localhost:9999/mcp"}),
    ],
)
def test_a_duplicate_name_is_a_conflict(api, kind, payload):
    error = refused(api, "POST", f"/{kind}", 409, "conflict", json=payload)
    assert "already exists" in error["message"]


def test_renaming_onto_another_name_is_a_conflict_and_changes_nothing_else(api, ids):
    refused(api, "PATCH", f"/tools/{ids['other_tool']}", 409, "conflict", json={"description": "new", "name": "clock_tool"})


def test_a_server_naming_unknown_members_is_refused_whole(api, ids):
    error = refused(api, "POST", "/servers", 422, "unknown_reference",
                    json={"name": "s2", "tool_ids": [ids["tool"], "missing"], "prompt_ids": [ids["prompt"]]})
    assert error["details"] == {"tool_ids": ["missing"]}
    # An update that renames and names an unknown member must not rename either.
    error = refused(api, "PATCH", f"/servers/{ids['server']}", 422, "unknown_reference",
                    json={"name": "renamed", "resource_ids": ["nowhere"]})
    assert error["details"] == {"resource_ids": ["nowhere"]}


def test_an_integration_type_without_an_adapter_is_unprocessable(api):
    error = refused(api, "POST", "/tools", 422, "unknown_integration_type", json={**NEW_TOOL, "integration_type": "GRPC"})
    assert "'GRPC'" in error["message"] and "REST" in error["message"]  # what is installed


def test_deleting_a_tool_a_server_holds_is_a_conflict(api, ids):
    error = refused(api, "DELETE", f"/tools/{ids['tool']}", 409, "conflict")
    assert error["details"] == {"servers": ["ops"]}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/tools/missing", None),
        ("PUT", "/prompts/missing", {"description": "x"}),
        ("PATCH", "/resources/missing", {"description": "x"}),
        ("DELETE", "/servers/missing", None),
        ("POST", "/gateways/missing/enable", None),
        ("POST", "/tools/missing/disable", None),
        ("GET", "/no/such/route", None),
    ],
)
def test_an_unknown_id_or_route_is_not_found(api, method, path, body):
    refused(api, method, path, 404, "not_found", json=body)


BAD_BODIES = [
    pytest.param({"content": b'{"name": "x",', "headers": JSON}, 400, "invalid_json", "not valid JSON", id="broken"),
    pytest.param({"content": b'{"name": "\xff"}', "headers": JSON}, 400, "invalid_json", "not valid JSON", id="not-utf8"),
    pytest.param({"json": [NEW_TOOL]}, 400, "invalid_json", "not an array", id="array"),
    pytest.param({"json": "new_tool"}, 400, "invalid_json", "not a string", id="string"),
    pytest.param({"content": b"null", "headers": JSON}, 400, "invalid_json", "not null", id="null"),
    pytest.param({"content": b"", "headers": JSON}, 400, "invalid_json", "empty", id="empty"),
    pytest.param({"data": NEW_TOOL}, 415, "unsupported_media_type", "application/json", id="form"),
]


@pytest.mark.parametrize(("request_", "status", "code", "says"), BAD_BODIES)
def test_a_body_that_is_not_one_json_object_is_refused(api, ids, request_, status, code, says):
    for method, path in (("POST", "/tools"), ("PUT", f"/tools/{ids['other_tool']}")):
        error = refused(api, method, path, status, code, **request_)
        assert says in error["message"], error


def send_unfinished(url: str, head: str, body: bytes) -> tuple[int, dict]:
    """Send a request's head and the start of its body, then read the answer without sending more,
    as a client stops once the gateway refuses. (A client that keeps sending after the refusal may
    see the connection reset instead: the server closes with its body unread.)"""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, json.loads(response.read())


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_max_body_bytes_is_too_large(gateway, api, framing):
    before = catalog(api)
    start = b'{"name": "new_tool", "url": "http://localhost:9000/new", "description": "'
    if framing == "content-length":  # refused from the announced length, before the body arrives
        status, answer = send_unfinished(
            gateway.url,
            f"POST /tools HTTP/1.1\nHost: forge\nContent-Type: application/json\n"
            f"Content-Length: {MAX_BODY_BYTES + 1}\n",
            b"",
        )
    else:  # refused once the byte over the limit arrives
        chunk = start + b"x" * (MAX_BODY_BYTES + 1 - len(start))
        status, answer = send_unfinished(
            gateway.url,
            "POST /tools HTTP/1.1\nHost: forge\nContent-Type: application/json\nTransfer-Encoding: chunked\n",
            f"{len(chunk):x}\r\n".encode() + chunk,
        )
    assert status == 413
    assert answer["error"]["code"] == "body_too_large"
    assert f"MAX_BODY_BYTES ({MAX_BODY_BYTES} bytes)" in answer["error"]["message"]
    assert catalog(api) == before


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/tools?limit=0", "limit"),
        ("/tools?limit=100000", "limit"),
        ("/prompts?offset=-1", "offset"),
        ("/servers?enabled=maybe", "enabled"),
    ],
)
def test_a_bad_query_string_is_refused(api, path, field):
    error = refused(api, "GET", path, 422, "invalid_query")
    assert [detail["field"] for detail in error["details"]] == [field]


def test_a_bad_force_flag_deletes_nothing(api, ids):
    refused(api, "DELETE", f"/tools/{ids['tool']}?force=perhaps", 422, "invalid_query")
