"""Upstream credentials at rest: the headers of REST tools and gateways reach the database
encrypted (AES-GCM, key from AUTH_ENCRYPTION_SECRET), leave the API masked, and reach the upstream
in clear at call time. The kernel only asks `forge_secret_codec` for a codec; it has no
cryptography of its own and stores values as given when no plugin answers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import httpx
import pytest

from forge.hookspecs import hookimpl
from forge.secrets import MASK

TOKEN = "Bearer upstream-s3cret-value"
RPC = {"content-type": "application/json"}


def call_tool(forge, name: str, auth=None) -> dict:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}}
    answer = httpx.post(forge.url + "/rpc", json=message, headers=RPC, auth=auth, timeout=30).json()
    assert not answer["result"]["isError"], answer
    return json.loads(answer["result"]["content"][0]["text"])


def raw_rows(database: str, table: str) -> list[dict]:
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(f"SELECT * FROM {table}")]


@pytest.fixture
def database(tmp_path) -> str:
    return str(tmp_path / "secrets.db")


def start(start_forge, database, **settings):
    return start_forge(database_url=f"sqlite:///{database}", **settings)


def test_a_tool_header_is_ciphertext_in_the_database_masked_in_the_api_and_real_upstream(
    start_forge, database, rest_upstream
):
    forge = start(start_forge, database, auth_encryption_secret="k1")
    api = httpx.Client(base_url=forge.url, timeout=30)
    created = api.post(
        "/tools", json={"name": "echo", "url": rest_upstream + "/echo", "headers": {"Authorization": TOKEN}}
    )
    assert created.json()["headers"] == {"Authorization": MASK}
    tool_id = created.json()["id"]

    (row,) = raw_rows(database, "tools")
    assert "upstream-s3cret-value" not in json.dumps(row)
    stored = json.loads(row["headers"])
    assert list(stored) == ["Authorization"] and stored["Authorization"].startswith("aes-gcm:v1:")

    assert api.get(f"/tools/{tool_id}").json()["headers"] == {"Authorization": MASK}
    assert api.get("/tools").json()["items"][0]["headers"] == {"Authorization": MASK}
    assert call_tool(forge, "echo")["headers"]["authorization"] == TOKEN


def test_sending_the_mask_back_keeps_the_stored_secret(start_forge, database, rest_upstream):
    forge = start(start_forge, database)
    api = httpx.Client(base_url=forge.url, timeout=30)
    tool = api.post(
        "/tools",
        json={
            "name": "echo",
            "url": rest_upstream + "/echo",
            "headers": {"Authorization": TOKEN, "X-Team": "a"},
        },
    ).json()

    shown = api.get(f"/tools/{tool['id']}").json()
    updated = api.put(f"/tools/{tool['id']}", json={"headers": {**shown["headers"], "X-Team": "b"}})
    assert updated.status_code == 200 and updated.json()["headers"] == {"Authorization": MASK, "X-Team": MASK}
    received = call_tool(forge, "echo")["headers"]
    assert (received["authorization"], received["x-team"]) == (TOKEN, "b")

    api.patch(f"/tools/{tool['id']}", json={"headers": {"authorization": MASK}})  # names match in any case
    received = call_tool(forge, "echo")["headers"]
    assert received["authorization"] == TOKEN and "x-team" not in received

    unknown = api.patch(f"/tools/{tool['id']}", json={"headers": {"X-Api-Key": MASK}})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["field"] == "headers"
    assert (
        api.post("/tools", json={"name": "t2", "url": rest_upstream, "headers": {"A": MASK}}).status_code
        == 422
    )


def test_a_gateway_header_is_encrypted_and_masked_too(start_forge, database):
    forge = start(start_forge, database, plugins_disabled=["federation"])
    api = httpx.Client(base_url=forge.url, timeout=30)
    gateway = api.post(
        "/gateways",
        json={"name": "upstream", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": TOKEN}},
    ).json()
    assert gateway["headers"] == {"Authorization": MASK}
    assert "upstream-s3cret-value" not in json.dumps(raw_rows(database, "gateways"))
    assert forge.run(forge.gateway.store.get("gateways", gateway["id"]))["headers"] == {
        "Authorization": TOKEN
    }


def forge_command(*args, **env) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "DATABASE_", "JWT_", "PLUGINS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "forge", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_rotating_the_encryption_secret_re_encrypts_every_value(start_forge, database, rest_upstream):
    forge = start(start_forge, database, auth_encryption_secret="old-secret")
    httpx.post(
        forge.url + "/tools",
        json={"name": "echo", "url": rest_upstream + "/echo", "headers": {"Authorization": TOKEN}},
    )
    forge.stop()
    before = raw_rows(database, "tools")[0]["headers"]

    env = {"DATABASE_URL": f"sqlite:///{database}", "AUTH_ENCRYPTION_SECRET": "new-secret"}
    wrong = forge_command("secrets", "rotate", "--old-secret", "not-the-secret", **env)
    assert wrong.returncode != 0 and "nothing was changed" in wrong.stderr
    assert raw_rows(database, "tools")[0]["headers"] == before

    rotated = forge_command("secrets", "rotate", "--old-secret", "old-secret", **env)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == "re-encrypted 1 stored secret value(s)"
    assert raw_rows(database, "tools")[0]["headers"] != before

    with pytest.raises(RuntimeError, match="cannot be decrypted with AUTH_ENCRYPTION_SECRET"):
        start(start_forge, database, auth_encryption_secret="old-secret")
    renewed = start(start_forge, database, auth_encryption_secret="new-secret")
    assert call_tool(renewed, "echo")["headers"]["authorization"] == TOKEN


def test_values_stored_before_the_plugin_was_installed_work_and_rotate_seals_them(
    start_forge, database, rest_upstream
):
    plain = start(start_forge, database, plugins_disabled=["auth_basic_jwt"])
    httpx.post(
        plain.url + "/tools",
        json={"name": "echo", "url": rest_upstream + "/echo", "headers": {"Authorization": TOKEN}},
    )
    plain.stop()
    assert json.loads(raw_rows(database, "tools")[0]["headers"]) == {"Authorization": TOKEN}

    forge = start(start_forge, database)
    assert call_tool(forge, "echo")["headers"]["authorization"] == TOKEN
    forge.stop()
    sealed = forge_command("secrets", "rotate", DATABASE_URL=f"sqlite:///{database}")
    assert sealed.returncode == 0, sealed.stderr
    assert json.loads(raw_rows(database, "tools")[0]["headers"])["Authorization"].startswith("aes-gcm:v1:")


class Reversed:
    """A third-party codec (not cryptography, just visible): the kernel stores what it answers."""

    def encrypt(self, plaintext: str) -> str:
        return "rev:" + plaintext[::-1]

    def decrypt(self, stored: str) -> str:
        return stored[4:][::-1] if stored.startswith("rev:") else stored


class ReversedCodec:
    @hookimpl
    def forge_secret_codec(self, gateway):
        return Reversed()


def test_the_store_seals_with_whatever_codec_a_plugin_provides(start_forge, database, rest_upstream):
    forge = start(start_forge, database, plugins=[ReversedCodec()])  # asked before the auth plugin
    httpx.post(
        forge.url + "/tools",
        json={"name": "echo", "url": rest_upstream + "/echo", "headers": {"X-Key": "abc"}},
    )
    assert json.loads(raw_rows(database, "tools")[0]["headers"]) == {"X-Key": "rev:cba"}
    assert call_tool(forge, "echo")["headers"]["x-key"] == "abc"
