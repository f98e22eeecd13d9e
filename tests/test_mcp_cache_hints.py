"""The cache hints of 2026-07-28 answers: lists and resource reads say how long a client may reuse
them (MCP_RESULT_TTL_MS) and whether a shared cache may keep them (only without authentication)."""

from __future__ import annotations

import base64

import httpx

from tests.test_mcp_wire import ACCEPT, modern


def hints(forge, method: str, params: dict | None = None, name=None, **headers) -> tuple[int, str]:
    with httpx.Client(base_url=forge.url, headers={**ACCEPT, **headers}, timeout=10) as client:
        result = client.post("/mcp", **modern(method, params, name=name)).json()["result"]
    return result["ttlMs"], result["cacheScope"]


def test_answers_are_not_to_be_reused_unless_configured(forge):
    assert hints(forge, "tools/list") == (0, "public")


def test_the_ttl_is_a_setting_and_an_open_gateway_answers_alike_for_everyone(start_forge):
    forge = start_forge(mcp_result_ttl_ms=30_000)
    with httpx.Client(base_url=forge.url, timeout=10) as api:
        api.post("/resources", json={"uri": "docs://readme", "content": "hello"}).raise_for_status()
    assert hints(forge, "tools/list") == (30_000, "public")
    assert hints(forge, "resources/read", {"uri": "docs://readme"}, name="docs://readme") == (30_000, "public")


def test_with_authentication_answers_stay_private(start_forge):
    forge = start_forge(mcp_result_ttl_ms=5_000, auth_required=True)
    basic = "Basic " + base64.b64encode(b"admin:changeme").decode()
    assert hints(forge, "prompts/list", authorization=basic) == (5_000, "private")
