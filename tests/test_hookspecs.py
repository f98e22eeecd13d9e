"""The hookspecs are the plugin author's manual: each must say everything, and each must be tested."""

import inspect
import re
from pathlib import Path

import pytest

from forge import hookspecs

SPECS = {name: fn for name, fn in vars(hookspecs).items() if name.startswith("forge_") and callable(fn)}
CALL_SEMANTICS = (
    "all results are collected, in call order",
    "the first non-None result wins",
)
TESTS = Path(__file__).parent


def test_there_are_hookspecs_for_every_extension_point_the_kernel_promises():
    promised = {
        "forge_transports", "forge_upstream_connectors", "forge_authenticate", "forge_authorize",
        "forge_store", "forge_cache", "forge_tool_adapters", "forge_admin_panels", "forge_startup",
        "forge_shutdown", "forge_blueprints", "forge_cli_commands", "forge_before_tool_call",
        "forge_after_tool_call", "forge_before_prompt_render", "forge_after_prompt_render",
        "forge_before_resource_read", "forge_after_resource_read", "forge_settings_sections",
    }
    assert promised <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hookspec_docstring_is_a_complete_manual_entry(name):
    doc = inspect.getdoc(SPECS[name]) or ""
    first_line = doc.splitlines()[0] if doc else ""
    assert first_line.endswith("."), f"{name}: the first line says what the hook contributes or decides"
    for section in ("Parameters:", "Returns:", "Call semantics:", "May be async:", "Default plugin:"):
        assert section in doc, f"{name}: docstring lacks {section!r}"
    semantics = re.search(r"Call semantics: (.*?)(?:,|\.|$)", doc.replace("\n", " "))
    assert any(sentence in doc.replace("\n    ", " ") for sentence in CALL_SEMANTICS), (
        f"{name}: say one of {CALL_SEMANTICS}, not {semantics.group(1) if semantics else '?'}"
    )
    parameters = list(inspect.signature(SPECS[name]).parameters)
    for parameter in parameters:
        assert f"`{parameter}`" in doc, f"{name}: parameter {parameter!r} is not described"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hookspec_has_a_test_that_implements_it(name):
    """Like datasette: a hook nobody tests is a hook that silently breaks."""
    implemented = [
        path.name
        for path in TESTS.rglob("test_*.py")
        if path.name != Path(__file__).name and re.search(rf"def {name}\(", path.read_text())
    ]
    assert implemented, f"no test implements {name}"
