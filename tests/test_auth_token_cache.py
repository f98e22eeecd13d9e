"""A bearer token is verified once and then remembered briefly: a client sending the same token on
every MCP request pays for the signature check once, not on each request (revocation still applies
at once: tests/test_auth_revocation.py)."""

from __future__ import annotations

import httpx

from forge_plugins.auth_basic_jwt import authenticator_of, create_token

SECRET = "token-cache-test-secret-" + "x" * 40
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def test_a_token_is_verified_once_for_many_requests(start_forge):
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    verifier = authenticator_of(forge.gateway).verifier
    checked = []
    original = verifier.claims
    verifier.claims = lambda token: checked.append(token) or original(token)

    token, other = create_token("ada", SECRET), create_token("bob", SECRET)
    headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
    for _ in range(5):
        assert httpx.post(forge.url + "/rpc", json=PING, headers=headers, timeout=10).json()["result"] == {}
    assert checked == [token]

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = httpx.post(forge.url + "/rpc", json=PING, headers={**headers, "authorization": f"Bearer {forged}"})
    assert refused.status_code == 401  # another token string is verified afresh
    httpx.post(forge.url + "/rpc", json=PING, headers={**headers, "authorization": f"Bearer {other}"}, timeout=10)
    assert checked == [token, forged, other]
