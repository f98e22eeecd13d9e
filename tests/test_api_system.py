"""The gateway's own endpoints: liveness and readiness probes, /version, and the seed's
curl-friendly /protocol/initialize and /protocol/ping."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from forge import __version__
from forge.mcp.versions import HANDSHAKE_VERSIONS

INITIALIZE = {"protocol_version": "2025-03-26", "capabilities": {}, "client_info": {"name": "curl", "version": "8"}}


def test_health_says_the_process_serves(api):
    response = api.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "healthy"})


def test_ready_says_the_database_answers(api):
    response = api.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready", "database": "ok", "redis": "not used"})


def test_ready_is_503_while_the_database_is_unreachable(forge, api, tmp_path):
    store = forge.gateway.store
    working = store.engine
    # The database "goes away": the store now points at a file in a folder that does not exist.
    store.engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'forge.db'}")
    try:
        unready = api.get("/ready")
        alive = api.get("/health")
    finally:
        broken, store.engine = store.engine, working
        forge.run(broken.dispose())
    assert (unready.status_code, unready.json()) == (
        503, {"status": "unavailable", "database": "unreachable", "redis": "not used"}
    )
    assert alive.status_code == 200  # liveness does not depend on the database
    assert api.get("/ready").status_code == 200  # and readiness comes back with it


def test_version_names_the_release_the_protocols_and_the_plugins(api):
    version = api.get("/version").json()
    assert version["app"] == "Forge"
    assert version["version"] == __version__
    assert set(HANDSHAKE_VERSIONS) <= set(version["protocol_versions"])
    plugins = {plugin["name"]: plugin["version"] for plugin in version["plugins"]}
    assert {"management_api", "sql_store", "rest_adapter"} <= set(plugins)


def test_protocol_initialize_answers_what_an_mcp_initialize_would(api):
    response = api.post("/protocol/initialize", json=INITIALIZE)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["protocolVersion"] == "2025-03-26"
    assert result["serverInfo"] == {"name": "Forge", "version": __version__}
    assert {"tools", "resources", "prompts"} <= set(result["capabilities"])
    assert result["instructions"]


def test_protocol_initialize_takes_mcp_spellings_and_offers_its_latest_version_for_an_unknown_one(api):
    result = api.post("/protocol/initialize", json={"protocolVersion": "1999-01-01", "clientInfo": {"name": "x"}}).json()
    assert result["protocolVersion"] == HANDSHAKE_VERSIONS[0]


def test_protocol_initialize_without_a_version_is_refused(api):
    response = api.post("/protocol/initialize", json={"capabilities": {}})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_payload"
    assert [detail["field"] for detail in error["details"]] == ["protocol_version"]
    assert api.post("/protocol/initialize", content=b"{", headers={"content-type": "application/json"}).status_code == 400


def test_protocol_ping_answers_bare_or_as_json_rpc(api):
    assert api.post("/protocol/ping").json() == {}
    answer = api.post("/protocol/ping", json={"jsonrpc": "2.0", "id": 7, "method": "ping"}).json()
    assert answer == {"jsonrpc": "2.0", "id": 7, "result": {}}


def test_probes_and_the_api_document_stay_open_when_authentication_is_required(start_forge):
    secured = start_forge(auth_required=True)
    with httpx.Client(base_url=secured.url) as anonymous:
        for path in ("/health", "/ready", "/version", "/openapi.json"):
            assert anonymous.get(path).status_code == 200, path
        refused = anonymous.get("/tools")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"
        assert refused.headers["www-authenticate"].lower().startswith("basic")
        assert anonymous.post("/protocol/ping").status_code == 401
    with httpx.Client(base_url=secured.url, auth=("admin", "changeme")) as admin:
        assert admin.get("/tools").json()["total"] == 0
        assert admin.post("/protocol/initialize", json=INITIALIZE).status_code == 200
