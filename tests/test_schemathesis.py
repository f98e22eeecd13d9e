"""Schemathesis against /openapi.json: every documented operation, called with generated data and
an administrator's bearer token, never answers 5xx, never answers a status its operation does not
document, and never answers a body that breaks its own documented schema.

The gateway runs with the installed plugins (authentication, audit, observability, admin UI) on a
throwaway SQLite database, without federation: a generated gateway must never make Forge connect
to, or start, anything. An OpenAPI import's `url` is pointed at the loopback echo server, so no
generated address is ever fetched.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from forge.app import create_app
from forge_plugins.auth_basic_jwt.tokens import create_token
from tests.conftest import ForgeServer, forge_settings

SECRET = "schemathesis-secret-of-at-least-32-bytes"
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, response_schema_conformance]


def gateway_settings(folder: Path):
    return forge_settings(folder, auth_required=True, jwt_secret_key=SECRET, plugins_disabled=["federation"])


def openapi_document() -> dict:
    """The document, read from an app that is built but never started (tests are made per
    operation at collection time; the gateway they call starts later, with the same settings)."""
    app = create_app(gateway_settings(Path(tempfile.mkdtemp(prefix="forge-schemathesis-"))))

    async def read():
        response = await app.quart_app.test_client().get("/openapi.json")
        return await response.get_json()

    return asyncio.run(read())


# Generated cases only, valid and invalid alike (negative mode sends wrong types, broken bodies and
# unknown parameters): bounded by max_examples. The coverage phase's exhaustive boundary values
# would take minutes on a loaded machine.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = ForgeServer(gateway_settings(tmp_path_factory.mktemp("schemathesis"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token('admin', SECRET)}"}


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FORGE_SCHEMATHESIS_EXAMPLES", "8")),  # raise it for a deeper run
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_every_operation_keeps_its_contract(case, gateway, bearer, rest_upstream):
    if case.path == "/tools/import/openapi" and isinstance(case.body, dict) and "url" in case.body:
        case.body["url"] = f"{rest_upstream}/status/404"  # never fetch a generated address
    # /ready's 503 is its documented answer when the database is slow to answer (a loaded machine).
    checks = CHECKS[1:] if case.path == "/ready" else CHECKS
    case.call_and_validate(base_url=gateway.url, headers=bearer, checks=checks, timeout=30)


# --- what schemathesis found, pinned down ------------------------------------------------------------


def test_gateways_and_servers_take_the_gateway_id_filter_as_not_applying(gateway, bearer):
    for kind in ("gateways", "servers"):  # GET /gateways?gateway_id= was a 500
        listed = httpx.get(f"{gateway.url}/{kind}", params={"gateway_id": "x"}, headers=bearer, timeout=30)
        assert listed.status_code == 200, listed.text
        assert listed.json()["offset"] == 0


@pytest.mark.parametrize("path", ["/tools", "/gateways", "/audit", "/auth/tokens"])
def test_an_offset_past_64_bits_is_refused_as_invalid(gateway, bearer, path):
    listed = httpx.get(gateway.url + path, params={"offset": 2**63}, headers=bearer, timeout=30)  # was a 500
    assert listed.status_code == 422, listed.text
    assert listed.json()["error"]["code"] == "invalid_query"
    assert httpx.get(gateway.url + path, params={"offset": 2**63 - 1}, headers=bearer, timeout=30).status_code == 200


def test_the_document_names_every_status_the_kernel_answers():
    paths = schema.raw_schema["paths"]
    created = paths["/tools"]["post"]["responses"]
    assert {"201", "400", "401", "403", "413", "415", "422", "429"} <= set(created)
    assert created["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert {"200", "401", "403", "422"} <= set(paths["/tools"]["get"]["responses"])  # a bad query string
    assert {"204", "404", "409"} <= set(paths["/tools/{entity_id}"]["delete"]["responses"])
    assert paths["/health"]["get"]["security"] == [] and "401" not in paths["/health"]["get"]["responses"]
    assert "security" not in paths["/tools"]["get"]  # the document's own: basic or bearer


@pytest.mark.parametrize("path", ["/tools", "/auth/tokens", "/import"])
def test_a_body_that_is_not_utf8_is_invalid_json_on_every_route(gateway, bearer, path):
    headers = {**bearer, "content-type": "application/json"}
    sent = httpx.post(gateway.url + path, content=b"\x05\xb5", headers=headers, timeout=30)  # /auth/tokens: a 500
    assert sent.status_code == 400, sent.text
    assert sent.json()["error"]["code"] == "invalid_json"
