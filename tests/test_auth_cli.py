"""`forge token revoke` and `forge token list`: an operator revokes and lists tokens from the command
line, on the database a gateway uses, while that gateway runs elsewhere (here: in its own thread,
as another process would, on its own connections)."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest
from click.testing import CliRunner

from forge.cli import build_cli
from forge_plugins.auth_basic_jwt import authenticator_of

SECRET = "cli-revocation-test-secret-" + "x" * 37


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def forge_command(tmp_path, monkeypatch):
    """Run `forge ...` in this process with the settings a gateway on tmp_path's database reads."""
    monkeypatch.chdir(tmp_path)  # no developer's .env
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'forge.db'}", "JWT_SECRET_KEY": SECRET}

    def run(*args):
        return CliRunner().invoke(build_cli(), list(args), env=env, catch_exceptions=False)

    return run


@pytest.fixture
def guarded(start_forge):
    """A gateway on tmp_path's forge.db (the conftest's default), as `forge_command` uses."""
    return start_forge(auth_required=True, jwt_secret_key=SECRET, basic_auth_password="pw")


def reread_revocations(server) -> None:
    """What the gateway's periodic task does every AUTH_REVOCATION_REFRESH seconds, done now."""
    gateway = server.gateway
    server.run(authenticator_of(gateway).revoked.load(gateway.store))


def test_a_token_issued_by_the_api_is_listed_revoked_by_the_cli_and_refused_after_the_reread(
    guarded, forge_command
):
    issued = httpx.post(
        guarded.url + "/auth/tokens",
        json={"name": "ci reader", "scopes": ["read"], "subject": "ci-bot"},
        auth=("admin", "pw"),
    )
    assert issued.status_code == 201
    token, jti = issued.json()["token"], issued.json()["jti"]
    assert httpx.get(guarded.url + "/tools", headers=bearer(token)).status_code == 200

    listed = forge_command("token", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if jti in line)
    assert row.split()[:2] == ["ci", "reader"] and "ci-bot" in row and "active" in row
    assert token not in listed.output

    revoked = forge_command("token", "revoke", jti, "--reason", "leaked", "--json")
    assert revoked.exit_code == 0, revoked.output
    record = json.loads(revoked.output)
    assert (record["jti"], record["reason"], record["recorded"], record["name"]) == (
        jti,
        "leaked",
        True,
        "ci reader",
    )
    assert record["revoked_by"].startswith("cli") and record["already_revoked"] is False

    reread_revocations(guarded)  # the running gateway learns of it from the database
    answer = httpx.get(guarded.url + "/tools", headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]["message"]) == (401, "the token has been revoked")
    states = json.loads(forge_command("token", "list", "--json").output)
    assert [(item["jti"], item["state"]) for item in states["items"]] == [(jti, "revoked")]
    assert "token" not in states["items"][0]
    shown = httpx.get(guarded.url + "/auth/tokens/revoked", auth=("admin", "pw")).json()
    assert [item["jti"] for item in shown["items"]] == [jti]  # the list the API keeps, not another


def test_a_token_signed_by_the_cli_is_revoked_by_its_jti_and_a_gateway_started_later_refuses_it(
    start_forge, forge_command
):
    made = forge_command("token", "--username", "ada", "--exp", "5", "--json")
    assert made.exit_code == 0, made.output
    printed = json.loads(made.output)
    assert jwt.decode(printed["token"], SECRET, algorithms=["HS256"])["jti"] == printed["jti"]

    revoked = forge_command("token", "revoke", printed["jti"])
    assert revoked.exit_code == 0, revoked.output
    assert "not recorded" in revoked.output  # never issued through the API: revoked all the same
    again = forge_command("token", "revoke", printed["jti"], "--json")
    assert json.loads(again.output)["already_revoked"] is True

    gateway = start_forge(auth_required=True, jwt_secret_key=SECRET)
    assert httpx.get(gateway.url + "/tools", headers=bearer(printed["token"])).status_code == 401
    other = json.loads(forge_command("token", "--username", "bob", "--json").output)["token"]
    assert httpx.get(gateway.url + "/tools", headers=bearer(other)).status_code == 200  # only that one


@pytest.mark.parametrize("jti", ["", " ", "a b", "x" * 256])
def test_a_jti_that_cannot_be_one_is_refused_with_a_usage_error(forge_command, tmp_path, jti):
    refused = forge_command("token", "revoke", jti)
    assert refused.exit_code == 2
    assert "a jti is 1 to 255 printable ASCII characters" in refused.output
    assert not (tmp_path / "forge.db").exists()  # refused before the database is opened


def test_issuing_options_given_to_a_subcommand_are_an_error_not_ignored(forge_command):
    refused = forge_command("token", "--username", "ada", "list")
    assert refused.exit_code == 2 and "--username" in refused.output
    issued = forge_command("token", "--username", "list")  # an option's value, as it always was
    assert issued.exit_code == 0
    assert jwt.decode(issued.output.strip(), SECRET, algorithms=["HS256"])["sub"] == "list"
