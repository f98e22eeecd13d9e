"""Argument completion: values offered for a prompt argument or a resource template variable.

Layer: services. Prompt arguments complete from their schema's `enum` (or `examples`); template
variables from the resource's `completions` map. Matching is by prefix, case-insensitive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_VALUES = 100  # the specification's cap on values in one answer


def _matching(candidates: Iterable[Any], prefix: str) -> dict:
    values = [str(value) for value in candidates if str(value).lower().startswith(prefix.lower())]
    return {"values": values[:MAX_VALUES], "total": len(values), "hasMore": len(values) > MAX_VALUES}


def complete_prompt_argument(prompt: Mapping[str, Any], name: str, prefix: str) -> dict:
    spec = ((prompt.get("argument_schema") or {}).get("properties") or {}).get(name) or {}
    return _matching(spec.get("enum") or spec.get("examples") or (), prefix)


def complete_template_variable(resource: Mapping[str, Any], name: str, prefix: str) -> dict:
    return _matching((resource.get("completions") or {}).get(name) or (), prefix)
