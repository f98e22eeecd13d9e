"""JSON shape limits: how deep objects and arrays nest, how long a string or key may be.

Layer: plugin (limits), a pure function the MCP middleware and the API guard call on decoded
JSON. Body size is the kernel's (MAX_BODY_BYTES, on every transport); this bounds what fits in a
body: a few kilobytes of `[[[[...` make a tree deep enough to exhaust recursive code further on
(schema validation, re-encoding, an upstream's parser).
"""

from __future__ import annotations

from typing import Any


def shape_problem(value: Any, max_depth: int, max_chars: int) -> str | None:
    """What makes `value` too deep or too long, in words; None when it is within both limits
    (0 turns a limit off). Iterative, so the check itself cannot run out of stack."""
    if not max_chars and not max_depth:
        return None
    max_depth = max_depth or float("inf")
    max_chars = max_chars or float("inf")
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str:
            if len(item) > max_chars:
                return f"a string is longer than {max_chars} characters (MAX_STRING_CHARS)"
        elif kind is dict or kind is list:
            if depth > max_depth:
                return f"JSON nests deeper than {max_depth} levels (MAX_JSON_DEPTH)"
            if kind is dict:
                for key in item:
                    if len(key) > max_chars:
                        return f"an object key is longer than {max_chars} characters (MAX_STRING_CHARS)"
                children = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children if type(child) in (dict, list, str))
    return None
