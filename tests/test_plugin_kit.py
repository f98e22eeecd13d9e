"""`forge plugin new NAME`: a plugin author gets a distribution that installs, plugs in and passes its
own test on the first run, with nothing but Forge installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from forge.cli import build_cli
from tests.test_packaging import clean_env, pip

ROOT = Path(__file__).resolve().parent.parent


def plugin_new(*args: str):
    return CliRunner().invoke(build_cli(), ["plugin", "new", *args])


def test_it_writes_a_distribution_with_an_entry_point_a_hook_a_readme_and_a_test(tmp_path):
    done = plugin_new("demo", "--dir", str(tmp_path))
    assert done.exit_code == 0, done.output
    assert (
        f"created {tmp_path}/forge-demo/ (distribution forge-demo, package forge_demo, plugin demo)"
        in done.output
    )
    source = tmp_path / "forge-demo"
    files = sorted(str(path.relative_to(source)) for path in source.rglob("*") if path.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "forge_demo/__init__.py",
        "pyproject.toml",
        "tests/test_forge_demo.py",
    ]
    project = tomllib.loads((source / "pyproject.toml").read_text())
    assert project["project"]["name"] == "forge-demo"
    assert project["project"]["entry-points"]["forge.plugins"] == {"demo": "forge_demo"}
    assert "def forge_blueprints(gateway):" in (source / "forge_demo" / "__init__.py").read_text()
    assert "pip install -e '.[test]'" in (source / "README.md").read_text()


def test_names_are_normalised_and_bad_or_taken_ones_refused(tmp_path):
    done = plugin_new("My-Tools", "--dir", str(tmp_path))
    assert done.exit_code == 0, done.output
    project = tomllib.loads((tmp_path / "forge-my-tools" / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["forge.plugins"] == {"my_tools": "forge_my_tools"}

    refused = plugin_new("9lives", "--dir", str(tmp_path))
    assert refused.exit_code == 2 and "starting with a letter" in refused.output
    taken = plugin_new("streamable_http", "--dir", str(tmp_path))
    assert taken.exit_code == 1 and "'streamable_http' is already installed or built in" in taken.output
    again = plugin_new("my-tools", "--dir", str(tmp_path))
    assert again.exit_code == 1 and "already exists and is not empty" in again.output


def test_the_generated_plugin_serves_its_route_on_a_live_gateway(tmp_path, start_forge):
    """The quick check, without installing: load the generated package and hand it to a gateway."""
    assert plugin_new("demo", "--dir", str(tmp_path)).exit_code == 0
    spec = importlib.util.spec_from_file_location(
        "forge_demo", tmp_path / "forge-demo" / "forge_demo" / "__init__.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    forge = start_forge(plugins=[module])
    with httpx.Client(base_url=forge.url) as client:
        assert client.get("/demo/hello").json() == {"plugin": "demo", "tools": 0}
        assert "/demo/hello" in client.get("/openapi.json").json()["paths"]


@pytest.mark.slow
def test_a_new_plugin_installs_next_to_the_kernel_and_passes_its_own_test(tmp_path):
    """What the author does: a fresh environment with Forge, `forge plugin new`, `pip install`, `pytest`."""
    home = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
    pip(home, "install", "--quiet", str(ROOT), "pytest")
    env = clean_env()
    created = subprocess.run(
        [str(home / "bin" / "forge"), "plugin", "new", "demo"],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    pip(home, "install", "--quiet", str(tmp_path / "forge-demo"))
    tested = subprocess.run(
        [str(home / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path / "forge-demo",
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout
    listing = subprocess.run(
        [str(home / "bin" / "forge"), "plugins"], env=env, check=False, capture_output=True, text=True
    )
    assert "demo                 forge-demo 0.1.0" in listing.stdout
