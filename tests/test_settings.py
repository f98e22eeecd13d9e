"""Settings: read from the environment and `.env`, and a bad value stops start-up with one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from forge.settings import Settings, SettingsError, load_settings


def test_contextforge_variables_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("APP_NAME", "MCP Gateway")
    monkeypatch.setenv("PORT", "4445")
    monkeypatch.setenv("AUTH_REQUIRED", "false")
    monkeypatch.setenv("FEDERATION_PEERS", '["http://peer1:4444","http://peer2:4444"]')
    monkeypatch.setenv("PLUGINS_DISABLED", "admin_ui, transport_ws")
    monkeypatch.setenv("APP_ROOT_PATH", "/gateway/")
    settings = load_settings(_env_file=None)
    assert settings.app_name == "MCP Gateway"
    assert settings.port == 4445
    assert settings.auth_required is False
    assert settings.federation_peers == ["http://peer1:4444", "http://peer2:4444"]
    assert settings.plugins_disabled == ["admin_ui", "transport_ws"]
    assert settings.app_root_path == "/gateway"


def test_a_dotenv_file_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("JWT_SECRET_KEY=from-dotenv\nTOKEN_EXPIRY=60\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.jwt_secret_key == "from-dotenv"
    assert settings.token_expiry == 60


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///./forge.db", "sqlite+aiosqlite:///./forge.db"),
        ("postgresql://forge@db:5432/forge", "postgresql+asyncpg://forge@db:5432/forge"),
        ("postgresql+asyncpg://forge@db/forge", "postgresql+asyncpg://forge@db/forge"),
    ],
)
def test_database_urls_get_their_async_driver(url, driver):
    assert Settings(database_url=url, _env_file=None).async_database_url == driver


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("PORT", "eighty", "PORT: Input should be a valid integer"),
        ("PORT", "70000", "PORT: Input should be less than or equal to 65535"),
        ("DATABASE_URL", "mysql://db/forge", "database 'mysql' is not supported"),
        ("DATABASE_URL", "not a url", "is not a database URL"),
        ("APP_ROOT_PATH", "gateway", "APP_ROOT_PATH: Value error, must start with '/'"),
        ("CACHE_TYPE", "memcached", "CACHE_TYPE: Input should be 'memory' or 'redis'"),
    ],
)
def test_a_bad_value_is_one_readable_line(monkeypatch, name, value, said):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert said in message and "\n" not in message


def forge_command(*args, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "AUTH_REQUIRED": "false", **env}
    return subprocess.run([sys.executable, "-m", "forge", *args], capture_output=True, text=True, env=environment, timeout=60)


def test_forge_serve_with_a_bad_port_says_so_in_one_line():
    done = forge_command("serve", PORT="eighty")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "forge: invalid setting PORT: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_forge_serve_with_an_unreachable_database_says_so_in_one_line():
    done = forge_command("serve", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", PORT="4999")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("forge: cannot open the database at DATABASE_URL")
    assert "Traceback" not in done.stderr


def test_forge_db_upgrade_creates_the_schema(tmp_path):
    done = forge_command("db", "upgrade", DATABASE_URL=f"sqlite:///{tmp_path}/up.db")
    assert done.returncode == 0, done.stderr
    assert "database is up to date" in done.stdout
    assert (tmp_path / "up.db").exists()
