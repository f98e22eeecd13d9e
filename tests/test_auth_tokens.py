"""Bearer tokens: what the auth plugin accepts and what it refuses.

HS256 with JWT_SECRET_KEY by default; RS256, ES256 (or any asymmetric JWT_ALGORITHM) verified with
JWT_PUBLIC_KEY_FILE and made by `forge token` with JWT_PRIVATE_KEY_FILE. One algorithm only, so
`alg: none` and an HS256 token "signed" with the RSA public key are refused. `exp` and `iat` are
required, `nbf` is honoured, `aud` and `iss` are required when configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from forge.app import create_app
from forge.plugins import PluginError
from forge_plugins.auth_basic_jwt import create_token
from tests.conftest import forge_settings

SECRET = "tokens-test-secret-" + "x" * 45  # 64 bytes: long enough for HS512 too


def write_key_pair(folder, kind: str):
    private = (
        rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    )
    private_file, public_file = folder / f"{kind}.key", folder / f"{kind}.pub"
    private_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_file, public_file


def claims(**overrides) -> dict:
    now = int(time.time())
    values = {"sub": "ada", "iat": now, "exp": now + 600, "jti": f"jti-{time.monotonic_ns()}"}
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def unsigned(payload: dict) -> str:
    """A token with `alg: none` and no signature, as an attacker hand-crafts it."""
    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(payload).encode())}."


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def status(forge, token: str, path: str = "/tools") -> int:
    return httpx.get(forge.url + path, headers={"authorization": f"Bearer {token}"}, timeout=10).status_code


@pytest.fixture
def hs256(start_forge):
    return start_forge(auth_required=True, jwt_secret_key=SECRET)


def test_hs256_checks_signature_lifetime_and_algorithm(hs256):
    assert status(hs256, jwt.encode(claims(), SECRET)) == 200
    refused = {
        "another key": jwt.encode(claims(), "some-other-secret-of-32-bytes-or-more"),
        "expired": jwt.encode(claims(exp=int(time.time()) - 5), SECRET),
        "no exp": jwt.encode(claims(exp=None), SECRET),
        "no iat": jwt.encode(claims(iat=None), SECRET),
        "iat in the future": jwt.encode(claims(iat=int(time.time()) + 300), SECRET),
        "nbf in the future": jwt.encode(claims(nbf=int(time.time()) + 300), SECRET),
        "alg none": unsigned(claims()),
        "HS512 instead of HS256": jwt.encode(claims(), SECRET, algorithm="HS512"),
        "an audience nobody asked for": jwt.encode(claims(aud="someone-else"), SECRET),
        "garbage": "not.a.token",
    }
    for why, token in refused.items():
        answer = httpx.get(hs256.url + "/tools", headers={"authorization": f"Bearer {token}"})
        assert answer.status_code == 401, why
        assert answer.json()["error"]["code"] == "unauthenticated", why


def test_a_token_tells_why_it_was_refused(hs256):
    expired = jwt.encode(claims(exp=int(time.time()) - 5), SECRET)
    answer = httpx.get(hs256.url + "/tools", headers={"authorization": f"Bearer {expired}"})
    assert answer.json()["error"]["message"] == "the token has expired"
    mcp = httpx.post(
        hs256.url + "/mcp",
        headers={"authorization": f"Bearer {expired}", "accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert mcp.status_code == 401
    assert (
        'error="invalid_token", error_description="the token has expired"' in mcp.headers["www-authenticate"]
    )


@pytest.mark.parametrize("kind,algorithm", [("rsa", "RS256"), ("ec", "ES256")])
def test_asymmetric_tokens_verify_with_the_public_key_file(
    start_forge, tmp_path, monkeypatch, kind, algorithm
):
    private_file, public_file = write_key_pair(tmp_path, kind)
    monkeypatch.setenv("JWT_PUBLIC_KEY_FILE", str(public_file))
    forge = start_forge(auth_required=True, jwt_algorithm=algorithm, jwt_secret_key=SECRET)
    private_pem = private_file.read_text()
    assert status(forge, create_token("ada", private_pem, algorithm=algorithm)) == 200

    stranger = (
        rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    )
    assert status(forge, create_token("ada", stranger, algorithm=algorithm)) == 401
    assert status(forge, jwt.encode(claims(), SECRET)) == 401  # the HMAC secret signs nothing here
    assert status(forge, unsigned(claims())) == 401


def test_an_hs256_token_signed_with_the_rsa_public_key_is_refused(start_forge, tmp_path, monkeypatch):
    """Algorithm confusion: the public key is public, so an HMAC over it proves nothing."""
    _, public_file = write_key_pair(tmp_path, "rsa")
    monkeypatch.setenv("JWT_PUBLIC_KEY_FILE", str(public_file))
    forge = start_forge(auth_required=True, jwt_algorithm="RS256")
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    signature = hmac.new(public_file.read_bytes(), header + b"." + body, hashlib.sha256).digest()
    forged = b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()
    answer = httpx.get(forge.url + "/tools", headers={"authorization": f"Bearer {forged}"})
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "the token is not signed with RS256"


def test_audience_and_issuer_are_required_when_configured(start_forge, monkeypatch):
    monkeypatch.setenv("JWT_AUDIENCE", "forge-prod")
    monkeypatch.setenv("JWT_ISSUER", "https://login.example")
    forge = start_forge(auth_required=True, jwt_secret_key=SECRET)
    good = create_token("ada", SECRET, audience="forge-prod", issuer="https://login.example")
    assert status(forge, good) == 200
    assert status(forge, create_token("ada", SECRET)) == 401
    assert (
        status(forge, create_token("ada", SECRET, audience="forge-dev", issuer="https://login.example"))
        == 401
    )
    assert (
        status(forge, create_token("ada", SECRET, audience="forge-prod", issuer="https://evil.example"))
        == 401
    )


def test_scopes_come_from_scopes_or_scope_and_a_token_without_any_is_an_admin_token(hs256):
    assert status(hs256, jwt.encode(claims(scope="read"), SECRET)) == 200
    assert (
        httpx.post(
            hs256.url + "/prompts",
            json={"name": "p", "template": "hi"},
            headers={"authorization": "Bearer " + jwt.encode(claims(scopes="read"), SECRET)},
        ).status_code
        == 403
    )
    assert status(hs256, jwt.encode(claims(), SECRET)) == 200


@pytest.mark.parametrize(
    "settings,env,message",
    [
        ({"jwt_algorithm": "none"}, {}, "JWT_ALGORITHM 'none' is not supported"),
        (
            {"jwt_algorithm": "RS256"},
            {},
            "JWT_ALGORITHM=RS256 verifies with a public key: set JWT_PUBLIC_KEY_FILE",
        ),
    ],
)
def test_a_bad_jwt_setting_stops_start_up_with_one_line(tmp_path, monkeypatch, settings, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PluginError, match=message):
        create_app(forge_settings(tmp_path, auth_required=True, **settings))


def test_a_public_key_of_the_wrong_kind_stops_start_up(start_forge, tmp_path, monkeypatch):
    _, public_file = write_key_pair(tmp_path, "ec")
    monkeypatch.setenv("JWT_PUBLIC_KEY_FILE", str(public_file))
    with pytest.raises(RuntimeError, match="holds an EC key, which cannot do RS256"):
        start_forge(auth_required=True, jwt_algorithm="RS256")


def forge_cli(*args, env=None):
    command = [sys.executable, "-m", "forge", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=60)


def cli_env(tmp_path, **values) -> dict:
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("JWT_", "AUTH_", "TOKEN_"))
    }
    env.update(values)
    env["HOME"] = str(tmp_path)
    return env


def test_forge_token_signs_with_the_private_key_and_names_scopes_and_jti(start_forge, tmp_path, monkeypatch):
    private_file, public_file = write_key_pair(tmp_path, "rsa")
    monkeypatch.setenv("JWT_PUBLIC_KEY_FILE", str(public_file))
    monkeypatch.setenv("JWT_ISSUER", "forge-test")
    forge = start_forge(auth_required=True, jwt_algorithm="RS256")
    env = cli_env(
        tmp_path, JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=str(private_file), JWT_ISSUER="forge-test"
    )
    made = forge_cli("token", "--username", "ada", "--scope", "read", "--exp", "5", "--json", env=env)
    assert made.returncode == 0, made.stderr
    printed = json.loads(made.stdout)
    decoded = jwt.decode(printed["token"], public_file.read_text(), algorithms=["RS256"], issuer="forge-test")
    assert decoded["scopes"] == ["read"] and decoded["jti"] == printed["jti"] and decoded["sub"] == "ada"
    assert decoded["exp"] - decoded["iat"] == 300
    assert status(forge, printed["token"]) == 200


def test_two_tokens_without_a_subject_are_two_principals(hs256):
    """Sessions are bound to the principal's name: tokens naming no subject must not share one."""
    first = jwt.encode(claims(sub=None), SECRET)
    second = jwt.encode(claims(sub=None), SECRET)
    headers = {"accept": "application/json, text/event-stream"}
    opened = httpx.post(
        hs256.url + "/mcp",
        headers={**headers, "authorization": f"Bearer {first}"},
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
    )
    assert opened.status_code == 200, opened.text
    session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    mine = httpx.post(hs256.url + "/mcp", headers={**headers, **session, "authorization": f"Bearer {first}"}, json=ping)
    assert mine.status_code == 200, mine.text
    theirs = httpx.post(hs256.url + "/mcp", headers={**headers, **session, "authorization": f"Bearer {second}"}, json=ping)
    assert theirs.status_code == 404, theirs.text
