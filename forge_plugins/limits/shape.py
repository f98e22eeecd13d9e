"""JSON shape limits: how deep objects and arrays nest, how long a string or key may be.

Layer: plugin (limits), a pure function the MCP middleware and the API guard call on decoded
JSON. Body size is the kernel's (MAX_BODY_BYTES, on every transport); this bounds what fits in a
body: a few kilobytes of `[[[[...` make a tree deep enough to exhaust recursive code further on
(schema validation, re-encoding, an upstream's parser).
"""

from __future__ import annotations

from typing import Any

NO_LIMIT = 1 << 62


def shape_problem(value: Any, max_depth: int, max_chars: int) -> str | None:
    """What makes `value` nest deeper than `max_depth` or hold a string or key longer than
    `max_chars` (0: any length), in words; None when it is within both. Recursion stops at
    `max_depth`, which the settings keep at most 512, well inside Python's own limit."""
    return _walk(value, 1, max_depth, max_chars or NO_LIMIT)


def _walk(value: Any, depth: int, max_depth: int, max_chars: int) -> str | None:
    # The hot path of every MCP message: plain type checks, no generator, strings checked in place.
    kind = type(value)
    if kind is str:
        return _too_long(max_chars) if len(value) > max_chars else None
    if kind is not dict and kind is not list:
        return None
    if depth > max_depth:
        return f"JSON nests deeper than {max_depth} levels (MAX_JSON_DEPTH)"
    if kind is dict:
        for key, item in value.items():
            if len(key) > max_chars:
                return _too_long(max_chars, "an object key")
            kind = type(item)
            if kind is str:
                if len(item) > max_chars:
                    return _too_long(max_chars)
            elif kind is dict or kind is list:
                problem = _walk(item, depth + 1, max_depth, max_chars)
                if problem is not None:
                    return problem
        return None
    for item in value:
        kind = type(item)
        if kind is str:
            if len(item) > max_chars:
                return _too_long(max_chars)
        elif kind is dict or kind is list:
            problem = _walk(item, depth + 1, max_depth, max_chars)
            if problem is not None:
                return problem
    return None


def _too_long(max_chars: int, what: str = "a string") -> str:
    return f"{what} is longer than {max_chars} characters (MAX_STRING_CHARS)"
