"""Registries filled from hook answers: one owner per key, or start-up stops with one line.

Layer: kernel. The app factory builds the transport, route and adapter registries with these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from forge.plugins import PluginError, call_implementation, implementations


def unique_registry(pairs: Iterable[tuple[str, Any, str]], what: str) -> dict[str, Any]:
    """Build {key: value} from (key, value, owner) triples; a key claimed twice is a `PluginError`."""
    registry: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for key, value, owner in pairs:
        if key in registry:
            raise PluginError(f"{what} {key!r} is claimed by both {owners[key]} and {owner}")
        registry[key], owners[key] = value, owner
    return registry


def answers_by_plugin(pm, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
    """(plugin name, answer) for every implementation of a synchronous hook, in call order."""
    answers = ((impl.plugin_name, call_implementation(impl, kwargs)) for impl in implementations(getattr(pm.hook, hook_name)))
    return [(name, answer) for name, answer in answers if answer is not None]
