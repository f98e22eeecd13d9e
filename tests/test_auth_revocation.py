"""Revoking a token: an administrator names its `jti`, and from then on every endpoint refuses it,
without a database read per request (the list is held in memory and kept in the store)."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, event, text

from forge_plugins.auth_basic_jwt import create_token

SECRET = "revocation-test-secret-" + "x" * 41
ACCEPT = {"accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def jti_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


@pytest.fixture
def guarded(start_forge):
    return start_forge(auth_required=True, jwt_secret_key=SECRET, basic_auth_password="pw")


def test_a_revoked_token_is_refused_everywhere_at_once(guarded):
    admin, victim = create_token("admin", SECRET), create_token("ada", SECRET, scopes=["read"])
    assert httpx.get(guarded.url + "/tools", headers=bearer(victim)).status_code == 200

    revoked = httpx.post(guarded.url + f"/auth/tokens/{jti_of(victim)}/revoke", headers=bearer(admin))
    assert revoked.status_code == 200
    assert revoked.json()["jti"] == jti_of(victim) and revoked.json()["revoked_by"] == "admin"

    answer = httpx.get(guarded.url + "/tools", headers=bearer(victim))
    assert (answer.status_code, answer.json()["error"]["message"]) == (401, "the token has been revoked")
    mcp = httpx.post(guarded.url + "/mcp", json=PING, headers={**ACCEPT, **bearer(victim)})
    assert mcp.status_code == 401
    assert 'error_description="the token has been revoked"' in mcp.headers["www-authenticate"]
    assert httpx.get(guarded.url + "/tools", headers=bearer(admin)).status_code == 200  # only that one


def test_only_an_administrator_revokes_and_the_list_shows_who_did(guarded):
    reader = create_token("ada", SECRET, scopes=["read"])
    target = create_token("bob", SECRET)
    refused = httpx.post(guarded.url + f"/auth/tokens/{jti_of(target)}/revoke", headers=bearer(reader))
    assert refused.status_code == 403
    assert httpx.post(guarded.url + f"/auth/tokens/{jti_of(target)}/revoke").status_code == 401
    for _ in range(2):  # revoking twice keeps the first record
        assert (
            httpx.post(
                guarded.url + f"/auth/tokens/{jti_of(target)}/revoke", auth=("admin", "pw")
            ).status_code
            == 200
        )
    listing = httpx.get(guarded.url + "/auth/tokens/revoked", headers=bearer(reader)).json()
    assert listing["total"] == 1
    assert [(item["jti"], item["revoked_by"]) for item in listing["items"]] == [(jti_of(target), "admin")]
    weird = httpx.post(guarded.url + "/auth/tokens/%20/revoke", auth=("admin", "pw"))
    assert weird.status_code == 422


def test_revocations_survive_a_restart(start_forge, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'kept.db'}"
    first = start_forge(auth_required=True, jwt_secret_key=SECRET, database_url=database_url)
    token = create_token("ada", SECRET)
    httpx.post(first.url + f"/auth/tokens/{jti_of(token)}/revoke", headers=bearer(token))
    first.stop()
    second = start_forge(auth_required=True, jwt_secret_key=SECRET, database_url=database_url)
    assert httpx.get(second.url + "/tools", headers=bearer(token)).status_code == 401


def test_another_worker_learns_of_a_revocation_from_the_store(start_forge, tmp_path, monkeypatch):
    """Two gateways on one database stand for two worker processes."""
    monkeypatch.setenv("AUTH_REVOCATION_REFRESH", "0.2")
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    one = start_forge(auth_required=True, jwt_secret_key=SECRET, database_url=database_url)
    two = start_forge(auth_required=True, jwt_secret_key=SECRET, database_url=database_url)
    token = create_token("ada", SECRET)
    assert httpx.get(two.url + "/tools", headers=bearer(token)).status_code == 200
    httpx.post(one.url + f"/auth/tokens/{jti_of(token)}/revoke", headers=bearer(token))
    for _ in range(50):
        if httpx.get(two.url + "/tools", headers=bearer(token)).status_code != 200:
            break
        time.sleep(0.1)
    assert httpx.get(two.url + "/tools", headers=bearer(token)).status_code == 401


def test_checking_a_token_reads_no_database(guarded):
    """The revoked list is in memory: MCP requests with a token run no SQL at all."""
    token = create_token("ada", SECRET)
    httpx.post(
        guarded.url + f"/auth/tokens/{jti_of(create_token('eve', SECRET))}/revoke", headers=bearer(token)
    )
    statements = []

    def listener(connection, cursor, statement, *rest):
        statements.append(statement)

    engine = guarded.gateway.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(5):
            answer = httpx.post(guarded.url + "/mcp", json=PING, headers={**ACCEPT, **bearer(token)})
            assert answer.status_code == 400  # authenticated: only the missing session is wrong
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []


def test_the_list_is_a_table_of_the_store(guarded, tmp_path):
    token = create_token("ada", SECRET)
    httpx.post(guarded.url + f"/auth/tokens/{jti_of(token)}/revoke", headers=bearer(token))
    engine = create_engine(f"sqlite:///{tmp_path / 'forge.db'}")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT jti, revoked_by FROM revoked_tokens")).all()
    engine.dispose()
    assert rows == [(jti_of(token), "ada")]
