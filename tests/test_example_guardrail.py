"""The example third-party plugin `examples/forge-guardrail`: through a live gateway, an MCP client
gets a REST tool's answer with the e-mail address and the valid card number masked, and a number
failing the Luhn check left alone. Installed as its own distribution, it plugs in through its
entry point and passes its own tests."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.test_packaging import clean_env

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "forge-guardrail"
NOTE = "Reach alice@example.com, card 4111 1111 1111 1111, order 4111 1111 1111 1112."
REDACTED = "Reach [email redacted], card [card redacted], order 4111 1111 1111 1112."


@pytest.fixture
def guardrail_plugins(monkeypatch) -> list:
    """The plugins to hand the gateway: the example's package, imported from its folder, unless it
    is installed (then its entry point loads it, and registering it twice would be an error)."""
    if any(entry.name == "guardrail" for entry in metadata.entry_points(group="forge.plugins")):
        return []
    package = EXAMPLE / "forge_guardrail"
    spec = importlib.util.spec_from_file_location(
        "forge_guardrail", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "forge_guardrail", module)
    spec.loader.exec_module(module)
    return [module]


async def test_a_rest_tools_answer_reaches_the_client_redacted(start_forge, rest_upstream, guardrail_plugins):
    forge = start_forge(plugins=guardrail_plugins)
    output_schema = {"type": "object", "properties": {"json": {"type": "object"}}}
    with httpx.Client(base_url=forge.url) as api:
        for tool in (
            {"name": "echo", "url": rest_upstream + "/notes"},
            {"name": "echo_structured", "url": rest_upstream + "/notes", "output_schema": output_schema},
        ):
            assert api.post("/tools", json=tool).status_code == 201
    async with Client(streamable_http_client(forge.url + "/mcp")) as client:
        plain = await client.call_tool("echo", {"note": NOTE})
        structured = await client.call_tool("echo_structured", {"note": NOTE})
    assert not plain.is_error
    assert json.loads(plain.content[0].text)["json"] == {"note": REDACTED}
    assert "alice@example.com" not in plain.content[0].text
    assert structured.structured_content["json"] == {"note": REDACTED}
    assert json.loads(structured.content[0].text)["json"] == {"note": REDACTED}


async def test_disabled_the_guardrail_leaves_the_same_answer_untouched(start_forge, rest_upstream):
    forge = start_forge(plugins_disabled=["guardrail"])  # in case it is installed
    with httpx.Client(base_url=forge.url) as api:
        assert api.post("/tools", json={"name": "echo", "url": rest_upstream + "/notes"}).status_code == 201
    async with Client(streamable_http_client(forge.url + "/mcp")) as client:
        plain = await client.call_tool("echo", {"note": NOTE})
    assert json.loads(plain.content[0].text)["json"] == {"note": NOTE}


@pytest.mark.slow
def test_installed_as_a_distribution_it_plugs_in_and_passes_its_own_tests(tmp_path):
    """`pip install` the example (into a folder on PYTHONPATH, next to this environment's Forge):
    `forge plugins` lists it from its distribution, and its own test suite passes."""
    source, target = tmp_path / "forge-guardrail", tmp_path / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(source),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    env = {**clean_env(), "PYTHONPATH": str(target)}
    listing = subprocess.run(
        [sys.executable, "-m", "forge", "plugins"], env=env, check=False, capture_output=True, text=True
    )
    assert "guardrail            forge-guardrail 0.1.0" in listing.stdout, listing.stderr
    assert "hooks: forge_after_tool_call" in listing.stdout
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
