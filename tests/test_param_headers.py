"""Mcp-Param-* headers (2026-07-28): a tools/call whose mirrored argument headers disagree with
its body is refused with -32020 (HTTP 400); one whose headers agree is served, from raw HTTP and
from the official SDK client, which mirrors them itself."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from forge.mcp.param_headers import ParamHeader, declared_param_headers
from tests.test_mcp_wire import error_of, initialize, legacy, modern

DEPLOY_SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "dry": {"type": "boolean", "x-mcp-header": "Dry"},
        "target": {"type": "object", "properties": {"zone": {"type": "string", "x-mcp-header": "Zone"}}},
        "note": {"type": "string"},
    },
}
ARGUMENTS = {"region": "eu-west", "count": 42, "dry": True, "target": {"zone": "b"}, "note": "n"}
HEADERS = {"mcp-param-region": "eu-west", "mcp-param-count": "42", "mcp-param-dry": "true", "mcp-param-zone": "b"}


@pytest.fixture
def deploy(api, rest_upstream) -> dict:
    answer = api.post("/tools", json={"name": "deploy", "url": rest_upstream + "/echo", "input_schema": DEPLOY_SCHEMA})
    assert answer.status_code == 201, answer.text
    return answer.json()


def call(wire, arguments: dict, **headers) -> httpx.Response:
    request = modern("tools/call", {"name": "deploy", "arguments": arguments}, name="deploy")
    request["headers"].update(headers)
    return wire.post("/mcp", **request)


def served(answer: httpx.Response) -> dict:
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["isError"] is False, result
    return result


# --- which arguments a schema mirrors --------------------------------------------------------------


def test_a_schema_declares_its_annotated_properties_by_path():
    assert sorted(declared_param_headers(DEPLOY_SCHEMA), key=lambda declared: declared.path) == [
        ParamHeader(("count",), "Mcp-Param-Count", "integer"),
        ParamHeader(("dry",), "Mcp-Param-Dry", "boolean"),
        ParamHeader(("region",), "Mcp-Param-Region", "string"),
        ParamHeader(("target", "zone"), "Mcp-Param-Zone", "string"),
    ]
    assert declared_param_headers({"type": "object"}) == ()
    assert declared_param_headers(None) == ()


@pytest.mark.parametrize(
    "schema",
    [
        {"x-mcp-header": "Root", "type": "string"},  # the root is not a property
        {"properties": {"a": {"type": "number", "x-mcp-header": "A"}}},  # number renders differently everywhere
        {"properties": {"a": {"type": ["string", "null"], "x-mcp-header": "A"}}},
        {"properties": {"a": {"type": "string", "x-mcp-header": "Not a token"}}},
        {"properties": {"a": {"type": "string", "x-mcp-header": ""}}},
        {"properties": {"a": {"type": "string", "x-mcp-header": 7}}},
        {"properties": {"a": {"type": "string", "x-mcp-header": "Same"}, "b": {"type": "string", "x-mcp-header": "SAME"}}},
        {"properties": {"a": {"anyOf": [{"type": "string", "x-mcp-header": "A"}]}}},  # off the properties chain
        {"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}},
    ],
)
def test_a_schema_whose_annotations_break_the_rules_declares_nothing(schema):
    assert declared_param_headers(schema) == ()


def test_the_problem_is_named():
    from forge.mcp.param_headers import param_header_problem

    same = {"properties": {"a": {"type": "string", "x-mcp-header": "Same"}, "b": {"type": "string", "x-mcp-header": "SAME"}}}
    assert "repeats that of" in param_header_problem(same)
    assert "HTTP header name token" in param_header_problem({"properties": {"a": {"type": "string", "x-mcp-header": "a b"}}})
    assert param_header_problem(DEPLOY_SCHEMA) is None


def test_instance_data_is_not_read_as_an_annotation():
    schema = {"properties": {"a": {"type": "object", "default": {"x-mcp-header": "A"}, "examples": [{"x-mcp-header": "B"}]}}}
    assert declared_param_headers(schema) == ()


# --- over the wire -----------------------------------------------------------------------------------


def test_a_call_whose_headers_mirror_its_arguments_is_served(wire, deploy):
    served(call(wire, ARGUMENTS, **HEADERS))
    served(call(wire, {**ARGUMENTS, "count": 42.0}, **HEADERS))  # an integral number is the integer
    served(call(wire, ARGUMENTS, **{**HEADERS, "mcp-param-count": "42.00"}))
    served(call(wire, {"note": "nothing mirrored"}))  # no argument, no header
    nulled = call(wire, {"region": None})  # null counts as absent: past the headers, the schema answers
    assert nulled.status_code == 200 and "region: None is not of type 'string'" in nulled.text, nulled.text
    served(call(wire, {**ARGUMENTS, "region": "Zürich"}, **{**HEADERS, "mcp-param-region": "=?base64?WsO8cmljaA==?="}))
    served(call(wire, ARGUMENTS, **{name.upper(): value for name, value in HEADERS.items()}))  # names ignore case
    served(call(wire, ARGUMENTS, **HEADERS, **{"mcp-param-other": "x"}))  # one the schema does not declare


@pytest.mark.parametrize(
    "arguments, headers, why",
    [
        (ARGUMENTS, {**HEADERS, "mcp-param-region": "us-east"}, "Mcp-Param-Region header does not match"),
        (ARGUMENTS, {k: v for k, v in HEADERS.items() if k != "mcp-param-zone"}, "Mcp-Param-Zone header is missing"),
        ({"note": "n"}, {"mcp-param-region": "eu-west"}, "'region' argument is absent"),
        (ARGUMENTS, {**HEADERS, "mcp-param-count": "42.5"}, "Mcp-Param-Count header does not match"),
        ({**ARGUMENTS, "count": 42.5}, HEADERS, "Mcp-Param-Count header does not match"),
        (ARGUMENTS, {**HEADERS, "mcp-param-count": "0x2a"}, "Mcp-Param-Count header does not match"),
        (ARGUMENTS, {**HEADERS, "mcp-param-dry": "True"}, "Mcp-Param-Dry header does not match"),
        (ARGUMENTS, {**HEADERS, "mcp-param-count": "9" * 5000}, "Mcp-Param-Count header does not match"),
        ({**ARGUMENTS, "region": ["eu"]}, HEADERS, "cannot be sent as a header"),
        (ARGUMENTS, {**HEADERS, "mcp-param-region": "=?base64?%%%?="}, "invalid base64"),
    ],
)
def test_a_call_whose_headers_disagree_with_its_arguments_is_header_mismatch(wire, deploy, arguments, headers, why):
    answer = call(wire, arguments, **headers)
    error = error_of(answer, 400, -32020)
    assert why in error["message"], error
    assert answer.json()["id"] == 1
    served(call(wire, ARGUMENTS, **HEADERS))  # and the next good call is served


def test_a_mirrored_header_sent_twice_is_header_mismatch(wire, deploy):
    request = modern("tools/call", {"name": "deploy", "arguments": ARGUMENTS}, name="deploy")
    headers = [*request["headers"].items(), *HEADERS.items(), ("Mcp-Param-Region", "eu-west")]
    error = error_of(wire.post("/mcp", headers=headers, json=request["json"]), 400, -32020)
    assert "mcp-param-region header was sent more than once" in error["message"]


def test_the_handshake_era_mirrors_nothing_and_is_not_checked(wire, deploy):
    session_id = initialize(wire)
    answer = legacy(wire, session_id, "tools/call", {"name": "deploy", "arguments": ARGUMENTS})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["isError"] is False


def test_a_tool_whose_annotations_break_the_rules_is_refused_with_the_reason(api, rest_upstream):
    schema = {"type": "object", "properties": {"size": {"type": "number", "x-mcp-header": "Size"}}}
    refused = api.post("/tools", json={"name": "sized", "url": rest_upstream + "/echo", "input_schema": schema})
    assert refused.status_code == 422, refused.text
    assert "x-mcp-header of property 'size' needs a string, integer or boolean property" in refused.text
    assert api.get("/tools").json()["total"] == 0


async def test_the_official_client_mirrors_the_headers_forge_expects(forge, deploy):
    async with Client(streamable_http_client(forge.url + "/mcp")) as client:
        assert "deploy" in [tool.name for tool in (await client.list_tools()).tools]  # teaches the client the headers
        result = await client.call_tool("deploy", {**ARGUMENTS, "region": "Zürich"})
    assert result.is_error is False, result


def test_federation_mirrors_the_declared_arguments_to_its_upstream():
    from forge_plugins.federation.forwarding import param_headers

    tool = {"definition": {"inputSchema": DEPLOY_SCHEMA}}
    assert param_headers(tool, {**ARGUMENTS, "region": "Zürich"}) == {
        "Mcp-Param-Region": "=?base64?WsO8cmljaA==?=", "Mcp-Param-Count": "42", "Mcp-Param-Dry": "true",
        "Mcp-Param-Zone": "b",
    }
    broken = {"properties": {"size": {"type": "number", "x-mcp-header": "Size"}}}
    assert param_headers({"definition": {"inputSchema": broken}}, {"size": 1.5}) == {}  # as a conforming client
    assert param_headers({"definition": {}}, ARGUMENTS) == {}
