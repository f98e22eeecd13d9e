"""Security headers on the management API and the admin UI, and CORS: off unless CORS_ORIGINS names
the origins whose pages may call the API and the MCP endpoints."""

from __future__ import annotations

import re

import httpx
import pytest

from forge.settings import SettingsError, load_settings
from tests.test_admin_ui import PASSWORD, SECRET, AdminClient

MCP_POST = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
APP = "https://app.example.com"


def assert_secured(response: httpx.Response, *, policy: str | None = "default-src 'self'") -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] in ("no-referrer", "same-origin")  # the admin UI keeps its own
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    if policy is not None:
        assert policy in headers["content-security-policy"]


def test_api_answers_carry_the_security_headers_errors_too(api):
    assert_secured(api.get("/tools"))
    assert_secured(api.get("/tools/no-such-id"))  # 404 from a view
    assert_secured(api.get("/no/such/route"))  # 404 from routing
    assert_secured(api.post("/tools", content=b"[", headers={"content-type": "application/json"}))  # 400
    assert_secured(api.get("/health"))


def test_refused_credentials_carry_them_too(start_forge):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    refused = httpx.get(forge.url + "/tools", timeout=30)
    assert refused.status_code == 401
    assert_secured(refused)


def test_the_api_documentation_pages_may_load_their_viewer_but_never_be_framed(api):
    docs = api.get("/docs")
    assert docs.status_code == 200
    assert_secured(docs, policy=None)
    assert "default-src" not in docs.headers["content-security-policy"]  # the viewer comes from a CDN


def test_mcp_answers_say_nosniff(api):
    for path in ("/rpc", "/mcp"):
        answer = api.post(path, json=PING, headers=MCP_POST | {"mcp-protocol-version": "2025-11-25"})
        assert answer.headers["x-content-type-options"] == "nosniff", path


def test_the_admin_ui_runs_under_its_policy(start_forge):
    forge = start_forge(auth_required=True, basic_auth_password=PASSWORD, jwt_secret_key=SECRET)
    client = AdminClient(forge)
    try:
        login = client.get("/admin/login")
        assert_secured(login)
        assert client.login().status_code == 303
        for path in ("/admin", "/admin/tools", "/admin/tools/new"):
            page = client.get(path, follow_redirects=True)
            assert page.status_code == 200, path
            assert_secured(page)
            policy = page.headers["content-security-policy"]
            assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
            # Under that policy only scripts and styles of its own origin run: none may be inline.
            scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.text, re.DOTALL)
            assert scripts, path
            assert all("src=" in attributes and not body.strip() for attributes, body in scripts), path
            assert "<style" not in page.text and " style=" not in page.text, path
            assert not re.search(r"\son[a-z]+=", page.text), path  # no inline event handlers
            assert "javascript:" not in page.text, path
        script = client.get("/admin/static/admin.js")
        assert script.status_code == 200 and script.headers["x-content-type-options"] == "nosniff"
    finally:
        client.close()


# --- CORS -------------------------------------------------------------------------------------------


def preflight(client: httpx.Client, path: str, origin: str) -> httpx.Response:
    return client.options(
        path,
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, mcp-session-id",
        },
    )


def test_cors_is_off_by_default(api):
    for path in ("/tools", "/mcp", "/rpc"):
        assert "access-control-allow-origin" not in preflight(api, path, APP).headers, path
    answer = api.get("/tools", headers={"origin": APP})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
    refused = api.post("/mcp", json=PING, headers=MCP_POST | {"origin": APP})
    assert refused.status_code == 403  # and the MCP endpoints refuse a foreign Origin outright


@pytest.fixture
def cors(start_forge):
    forge = start_forge(cors_origins=[APP, "http://localhost:5173"])
    with httpx.Client(base_url=forge.url, timeout=30) as client:
        yield client


def test_an_allowed_origin_gets_its_preflight_answered_on_the_api_and_mcp_endpoints(cors):
    for path in ("/tools", "/tools/some-id", "/mcp", "/rpc", "/sse", "/servers/any/mcp"):
        answer = preflight(cors, path, APP)
        assert answer.status_code == 204, path
        assert answer.headers["access-control-allow-origin"] == APP
        assert "POST" in answer.headers["access-control-allow-methods"]
        allowed = answer.headers["access-control-allow-headers"]
        assert {"authorization", "content-type", "mcp-session-id", "mcp-protocol-version"} <= {
            name.strip() for name in allowed.split(",")
        }
        assert answer.headers["vary"] == "Origin"


def test_an_allowed_origin_may_read_answers_and_call_mcp(cors):
    listed = cors.get("/tools", headers={"origin": APP})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == APP
    assert_secured(listed)
    opened = cors.post(
        "/mcp",
        headers=MCP_POST | {"origin": APP},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "web", "version": "1"},
            },
        },
    )
    assert opened.status_code == 200, opened.text
    assert opened.headers["access-control-allow-origin"] == APP
    assert "mcp-session-id" in opened.headers["access-control-expose-headers"]  # the page needs to read it
    assert opened.headers["mcp-session-id"]


def test_other_origins_get_no_cors_headers(cors):
    evil = "https://evil.example"
    answer = preflight(cors, "/tools", evil)
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in cors.get("/tools", headers={"origin": evil}).headers
    refused = cors.post("/mcp", json=PING, headers=MCP_POST | {"origin": evil})
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("value", ["*", "app.example.com", "https://app.example.com/path", "ftp://x"])
def test_cors_origins_must_be_origins(monkeypatch, value):
    monkeypatch.setenv("CORS_ORIGINS", value)
    with pytest.raises(SettingsError, match="CORS_ORIGINS.*is not an origin"):
        load_settings(_env_file=None)
