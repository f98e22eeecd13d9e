"""Tokens the gateway issues itself: `POST /auth/tokens` signs one and shows it once, `GET
/auth/tokens` lists what was issued (never the token), and a revoked one is listed as revoked."""

from __future__ import annotations

import httpx
import pytest

PASSWORD = "issued-tokens-password"
SECRET = "issued-tokens-secret-" + "x" * 40


@pytest.fixture
def secured(start_forge):
    return start_forge(auth_required=True, basic_auth_password=PASSWORD, jwt_secret_key=SECRET)


@pytest.fixture
def api(secured):
    with httpx.Client(base_url=secured.url, auth=("admin", PASSWORD), timeout=30) as client:
        yield client


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def test_an_issued_token_works_is_listed_without_its_secret_and_can_be_revoked(secured, api):
    created = api.post("/auth/tokens", json={"name": "ci reader", "scopes": ["read"], "expires_minutes": 60})
    assert created.status_code == 201
    token = created.json()
    assert (token["name"], token["subject"], token["scopes"], token["state"]) == (
        "ci reader",
        "admin",
        ["read"],
        "active",
    )
    assert httpx.get(secured.url + "/tools", headers=bearer(token["token"])).status_code == 200
    assert httpx.post(secured.url + "/tools", headers=bearer(token["token"]), json={}).status_code == 403

    listed = api.get("/auth/tokens").json()
    assert listed["total"] == 1
    assert listed["items"][0]["jti"] == token["jti"] and "token" not in listed["items"][0]

    assert api.post(f"/auth/tokens/{token['jti']}/revoke").status_code == 200
    assert httpx.get(secured.url + "/tools", headers=bearer(token["token"])).status_code == 401
    assert [t["state"] for t in api.get("/auth/tokens").json()["items"]] == ["revoked"]
    assert api.get("/auth/tokens", params={"state": "active"}).json()["total"] == 0
    assert api.get("/auth/tokens", params={"state": "revoked"}).json()["total"] == 1


def test_a_token_is_limited_to_a_virtual_server_by_its_id(secured, api):
    server = api.post("/servers", json={"name": "desk"}).json()
    token = api.post(
        "/auth/tokens", json={"name": "desk client", "scopes": [f"server:{server['id']}"], "subject": "bot"}
    ).json()
    assert token["subject"] == "bot" and token["created_by"] == "admin"
    assert httpx.get(secured.url + "/tools", headers=bearer(token["token"])).status_code == 403


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"name": "x", "scopes": []}, "scopes", "choose at least one scope"),
        ({"name": "x", "scopes": ["root"]}, "scopes", "'root' is not a scope"),
        ({"name": "x", "scopes": ["server:nope"]}, "scopes", "no virtual server with that id"),
        ({"name": " ", "scopes": ["read"]}, "name", "1 to 255 characters"),
        ({"name": "x", "scopes": ["read"], "expires_minutes": 0}, "expires_minutes", "greater than or equal"),
    ],
)
def test_a_token_asked_for_wrongly_is_refused_field_by_field(api, payload, field, message):
    answer = api.post("/auth/tokens", json=payload)
    assert answer.status_code == 422
    details = answer.json()["error"]["details"]
    assert details[0]["field"] == field and message in details[0]["message"]
    assert api.get("/auth/tokens").json()["total"] == 0


def test_only_administrators_issue_tokens_and_readers_list_them(secured, api):
    reader = api.post("/auth/tokens", json={"name": "reader", "scopes": ["read"]}).json()["token"]
    refused = httpx.post(
        secured.url + "/auth/tokens", headers=bearer(reader), json={"name": "more", "scopes": ["admin"]}
    )
    assert refused.status_code == 403
    assert httpx.get(secured.url + "/auth/tokens", headers=bearer(reader)).json()["total"] == 1
    assert httpx.get(secured.url + "/auth/tokens").status_code == 401
