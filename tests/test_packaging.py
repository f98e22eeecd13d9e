"""What `pip install` gives a user: the kernel alone is a working gateway; a plugin directory adds
itself through its entry point and leaves when uninstalled; a third party's plugin distribution
plugs in the same way."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with only the kernel installed from this checkout."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
    pip(home, "install", "--quiet", str(ROOT))
    return home


def pip(home: Path, *args: str) -> str:
    done = subprocess.run([str(home / "bin" / "python"), "-m", "pip", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def forge(home: Path, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(home / "bin" / "forge"), *args], capture_output=True, text=True, env={**clean_env(), **env}, timeout=60
    )


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}


def plugin_names(home: Path) -> list[str]:
    listing = forge(home, "plugins")
    assert listing.returncode == 0, listing.stderr
    return [line.split()[0] for line in listing.stdout.splitlines() if line and not line.startswith(" ")]


def test_the_kernel_alone_is_a_working_gateway(venv, tmp_path):
    names = plugin_names(venv)
    assert "streamable_http" in names and "management_api" in names
    assert "auth_basic_jwt" not in names and "transport_ws" not in names
    port = free_port()
    env = {**clean_env(), "AUTH_REQUIRED": "false", "PORT": str(port), "DATABASE_URL": f"sqlite:///{tmp_path}/k.db"}
    # Its log goes to a file: an unread pipe that fills up would stall the server.
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen([str(venv / "bin" / "forge"), "serve"], env=env, stderr=log, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            assert process.poll() is None, f"forge serve exited: {(tmp_path / 'serve.log').read_text()}"
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        ping = httpx.post(url + "/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert ping.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    finally:
        process.terminate()
        try:
            assert process.wait(15) == 0, (tmp_path / "serve.log").read_text()
        finally:
            if process.poll() is None:  # never leave it running, whatever failed
                process.kill()
                process.wait()
            log.close()


def test_auth_required_without_the_auth_plugin_is_one_readable_line(venv, tmp_path):
    done = forge(venv, "serve", DATABASE_URL=f"sqlite:///{tmp_path}/k.db", PORT=str(free_port()))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("forge: AUTH_REQUIRED=true but no authentication plugin")


def test_installing_a_plugin_directory_adds_it_and_uninstalling_removes_it(venv):
    pip(venv, "install", "--quiet", "--no-deps", str(ROOT / "forge_plugins" / "transport_ws"))
    assert "transport_ws" in plugin_names(venv)
    pip(venv, "uninstall", "--yes", "forge-transport-ws")
    assert "transport_ws" not in plugin_names(venv)


def test_a_third_party_distribution_plugs_in_through_its_entry_point(venv, tmp_path):
    source = tmp_path / "forge-hello"
    (source / "forge_hello").mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "forge-hello"
            version = "1.2.3"
            dependencies = ["forge-gateway"]

            [project.entry-points."forge.plugins"]
            hello = "forge_hello"
            """
        )
    )
    (source / "forge_hello" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import click
            from forge.hookspecs import hookimpl

            @hookimpl
            def forge_cli_commands(cli):
                @cli.command()
                def hello():
                    click.echo("hello from forge-hello")
            """
        )
    )
    pip(venv, "install", "--quiet", "--no-deps", str(source))
    listing = forge(venv, "plugins")
    assert "hello                forge-hello 1.2.3" in listing.stdout
    assert forge(venv, "hello").stdout.strip() == "hello from forge-hello"
    pip(venv, "uninstall", "--yes", "forge-hello")
