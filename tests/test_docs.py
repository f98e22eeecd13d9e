"""The documentation site: it builds with `mkdocs build --strict`, and its reference pages, generated
during the build, are complete — every setting (the kernel's and every installed plugin's) has a
description and is listed, every hookspec is on the hook page under its section with every part of
its manual entry, every route of the API is on the API page."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from forge import hookspecs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "gen"))

import ref_api
import ref_hooks
import ref_settings

SPECS = sorted(name for name, fn in vars(hookspecs).items() if name.startswith("forge_") and callable(fn))
SECTIONS = ref_settings.sections()
FIELDS = [
    pytest.param(section, name, id=f"{section.plugin or 'kernel'}:{name}")
    for section in SECTIONS
    for name in section.model.model_fields
]


@pytest.fixture(scope="module")
def openapi() -> dict:
    return ref_api.openapi_document()


def test_plugin_settings_sections_are_found_through_the_installed_plugins():
    found = {section.model.__name__: section.plugin for section in SECTIONS}
    assert found["Settings"] is None
    assert found["SseSettings"] == "transport_sse"  # a plugin distribution's section


@pytest.mark.parametrize(("section", "name"), FIELDS)
def test_every_setting_has_a_description(section, name):
    description = (section.model.model_fields[name].description or "").strip()
    assert len(description.split()) >= 2, (
        f"{section.model.__name__}.{name} has no description: add Field(..., description=...) "
        "so the settings reference can say what it does"
    )


def test_the_settings_page_lists_every_variable_with_its_default():
    page = ref_settings.render()
    for section in SECTIONS:
        for name, field in section.model.model_fields.items():
            for variable in ref_settings.variable_names(section.model, name, field):
                row = next((line for line in page.splitlines() if line.startswith(f"| `{variable}`")), None)
                assert row, f"{variable} is not on the settings page"
                assert ref_settings.default_value(field) in row
    assert "| `PORT` | int (≥ 1, ≤ 65535) | `4444` | Port `forge serve` binds to. |" in page


def test_the_hook_page_has_every_hookspec_under_a_section_heading_of_hookspecs_py():
    page = ref_hooks.render()
    collected = {hook.name: hook for hook in ref_hooks.collect()}
    headings = re.findall(r"^# -+ (.+?) -+$", Path(hookspecs.__file__).read_text(), re.MULTILINE)
    for name in SPECS:
        assert f"### {name} {{#{name}}}" in page, f"{name} is missing from the hook reference"
        assert f"[`{name}`](#{name})" in page, f"{name} is missing from the hook index"
        assert collected[name].section in headings, f"{name} sits under no section heading in hookspecs.py"
    assert [h for h in re.findall(r"^## (.+)$", page, re.MULTILINE) if h != "All hooks"] == list(
        dict.fromkeys(hook.section for hook in ref_hooks.collect())
    )


@pytest.mark.parametrize("name", SPECS)
def test_each_hook_entry_carries_every_part_of_its_manual(name):
    (hook,) = [hook for hook in ref_hooks.collect() if hook.name == name]
    assert hook.summary, f"{name}: no summary"
    assert set(hook.parts) == set(ref_hooks.LABELS), (
        f"{name}: lacks {set(ref_hooks.LABELS) - set(hook.parts)}"
    )
    entry = ref_hooks.render().split(f"### {name} ")[1].split("\n### ")[0]
    for label in ref_hooks.LABELS:
        assert f"- **{label}:** " in entry


def test_the_api_page_lists_every_operation_of_the_openapi_document(openapi):
    page = ref_api.render(openapi)
    for path, item in openapi["paths"].items():
        for method in item:
            if method in ref_api.HTTP_METHODS:
                assert f"### {method.upper()} {path}" in page, (
                    f"{method.upper()} {path} is not on the API page"
                )
    assert "/tools" in openapi["paths"] and "/health" in openapi["paths"]


def test_generation_is_deterministic(openapi):
    assert ref_settings.render() == ref_settings.render()
    assert ref_hooks.render() == ref_hooks.render()
    assert ref_api.render(openapi) == ref_api.render(ref_api.openapi_document())


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (pip install -e '.[test]')"
)
def test_the_site_builds_strict_and_offline(tmp_path):
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr
    hooks_page = (site / "reference" / "hooks" / "index.html").read_text()
    for name in SPECS:
        assert f'id="{name}"' in hooks_page, f"{name} is missing from the built hook reference"
    assert "AUTH_REQUIRED" in (site / "reference" / "settings" / "index.html").read_text()
    assert json.loads((site / "reference" / "openapi.json").read_text())["paths"]
    for page in site.rglob("*.html"):  # nothing the pages load comes from elsewhere
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', page.read_text()), page
