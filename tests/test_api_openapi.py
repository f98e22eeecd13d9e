"""/openapi.json: a valid OpenAPI 3 document, generated from the code, that describes every route
the management API serves: API tools and generated clients can rely on it."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate
from quart_schema.openapi import QUART_SCHEMA_HIDDEN_ATTRIBUTE

# Routes that serve the documentation itself rather than the API it documents.
DOCUMENTATION_ENDPOINTS = {"static", "openapi", "swagger_ui", "redoc_ui", "scalar_ui"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def document(api) -> dict:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_the_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)
    assert document["info"]["title"] == "Forge"


def test_every_route_of_the_app_is_documented(forge, document):
    app = forge.app.quart_app
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in DOCUMENTATION_ENDPOINTS:
            continue
        if getattr(app.view_functions[rule.endpoint], QUART_SCHEMA_HIDDEN_ATTRIBUTE, False):
            continue  # hidden on purpose with quart_schema.hide: the admin UI's HTML pages
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {path} ({rule.endpoint})")
    assert not missing, "routes missing from /openapi.json: " + ", ".join(missing)


def test_the_enable_and_disable_actions_of_every_kind_are_documented(document):
    for kind in ("tools", "resources", "prompts", "servers", "gateways"):
        for action in ("enable", "disable"):
            operation = document["paths"][f"/{kind}/{{entity_id}}/{action}"]["post"]
            assert operation["operationId"] == f"post_{action}_{kind[:-1]}"
            assert {"200", "404"} <= set(map(str, operation["responses"]))


def test_operation_ids_are_unique_and_every_operation_has_a_response(document):
    seen = [operation.get("operationId") for _, _, operation in operations(document)]
    assert None not in seen
    assert len(seen) == len(set(seen)), sorted(name for name in seen if seen.count(name) > 1)
    assert all(operation["responses"] for _, _, operation in operations(document))


def test_entity_writes_document_their_payload_and_their_errors(document):
    writes = [
        (path, method, operation)
        for path, method, operation in operations(document)
        if method in ("post", "put", "patch")
        and path.split("/")[1] in ("tools", "resources", "prompts", "servers", "gateways")
        and not path.endswith(("/enable", "/disable", "/approve", "/reject"))  # approve/reject: test_tool_pinning.py
        and not path.startswith("/tools/import/")  # an import, not an entity write (test_openapi_import.py)
    ]
    assert len(writes) == 5 * 3  # create, replace and update of each kind
    for path, method, operation in writes:
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["type"] == "object" and body["properties"], (method, path)
        assert body["additionalProperties"] is False, (method, path)  # unknown fields are refused, and said so
        assert "422" in map(str, operation["responses"]), (method, path)
    tool_create = document["paths"]["/tools"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert tool_create["required"] == ["name"]
    assert set(tool_create["properties"]) >= {"name", "url", "description", "input_schema"}


def test_the_document_names_how_to_authenticate(document):
    assert set(document["components"]["securitySchemes"]) == {"basic", "bearer"}
    assert document["security"] == [{"basic": []}, {"bearer": []}]
