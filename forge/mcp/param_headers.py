"""`Mcp-Param-*` headers: tool arguments a 2026-07-28 client mirrors into HTTP headers.

Layer: protocol. A tool's input schema may mark a property `"x-mcp-header": "Region"`; a client
of the 2026-07-28 Streamable HTTP transport then sends that argument again as the header
`Mcp-Param-Region`, so load balancers and gateways in front of the server can route or limit on
it without reading the body. Which is why the server must refuse a request whose headers and
body disagree (-32020, HTTP 400): `check_param_headers`, run on each such tools/call.

An annotation that breaks the rules (not on a plain chain of `properties` from the root, not an
RFC 9110 token, not on a string, integer or boolean property, or the same name twice ignoring
case) makes the whole tool unusable to conforming clients, which send no headers for it: such a
schema declares nothing here, and nothing is checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forge.mcp.envelope import decode_header_value
from forge.mcp.jsonrpc import HEADER_MISMATCH, McpError

HEADER_PREFIX = "mcp-param-"
ANNOTATION = "x-mcp-header"
SCHEMAS_KEPT = 65_536
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name characters
_HEADER_TYPES = frozenset({"string", "integer", "boolean"})  # `number` renders differently everywhere
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# Keywords whose values are subschemas off the plain `properties` chain: an annotation under one
# is misplaced. Instance data (`default`, `examples`, `const`, `enum`) is never entered, nor `$ref`.
_ONE_SUBSCHEMA = frozenset({
    "items", "contains", "unevaluatedItems", "additionalProperties", "propertyNames", "unevaluatedProperties",
    "not", "if", "then", "else", "contentSchema",
})
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"patternProperties", "dependentSchemas", "$defs", "definitions"})


@dataclass(frozen=True, slots=True)
class ParamHeader:
    """One mirrored argument: where it sits in `arguments`, its header and its declared type."""

    path: tuple[str, ...]
    name: str  # as the schema spells it: Mcp-Param-Region
    type: str

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def token(self) -> str:
        """What the schema's `x-mcp-header` says: Region."""
        return self.name[len(HEADER_PREFIX) :]


def param_header_problem(schema: Any) -> str | None:
    """Why an `x-mcp-header` annotation of `schema` breaks the rules, in words; None if none does."""
    return _annotations(schema)[1]


def _annotations(schema: Any) -> tuple[tuple[ParamHeader, ...], str | None]:
    found: list[ParamHeader] = []
    seen: dict[str, str] = {}
    stack: list[tuple[tuple[str, ...] | None, Any]] = [((), schema)]  # path None: off the chain
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        if ANNOTATION in node:
            token, kind = node[ANNOTATION], node.get("type")
            if not path:
                return (), f"{ANNOTATION} is allowed only on a property reached through 'properties' from the root"
            where = ".".join(path)
            if not isinstance(token, str) or not _TOKEN.fullmatch(token):
                return (), f"{ANNOTATION} of property {where!r} must be an HTTP header name token"
            if not isinstance(kind, str) or kind not in _HEADER_TYPES:
                return (), f"{ANNOTATION} of property {where!r} needs a string, integer or boolean property"
            if token.lower() in seen:
                return (), f"{ANNOTATION} {token!r} of property {where!r} repeats that of {seen[token.lower()]!r}"
            seen[token.lower()] = where
            found.append(ParamHeader(path, f"Mcp-Param-{token}", kind))
        for keyword, value in node.items():
            if keyword == "properties" and isinstance(value, dict):
                stack.extend(((*path, name) if path is not None else None, sub) for name, sub in value.items())
            elif keyword in _ONE_SUBSCHEMA:
                stack.append((None, value))
            elif keyword in _SUBSCHEMA_LISTS and isinstance(value, list):
                stack.extend((None, sub) for sub in value)
            elif keyword in _SUBSCHEMA_MAPS and isinstance(value, dict):
                stack.extend((None, sub) for sub in value.values())
    return tuple(found), None


# id(schema) -> (schema, its declarations): tool dicts live until a catalog write replaces them,
# so a schema is walked once, not on every call; holding it keeps its id from reuse.
_declared_by_identity: dict[int, tuple[Any, tuple[ParamHeader, ...]]] = {}


def declared_param_headers(schema: Any) -> tuple[ParamHeader, ...]:
    """The arguments `schema` mirrors into headers; () when none, or when an annotation breaks
    the rules (`param_header_problem` says which). Kept per schema object."""
    kept = _declared_by_identity.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    declared, problem = _annotations(schema)
    declared = () if problem else declared
    if len(_declared_by_identity) >= SCHEMAS_KEPT:
        _declared_by_identity.clear()
    _declared_by_identity[id(schema)] = (schema, declared)
    return declared


def check_param_headers(schema: Any, arguments: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    """Raise -32020 unless every argument `schema` mirrors and its `Mcp-Param-*` header (in
    `headers`, names lower-cased) agree: both absent (a null argument counts as absent), or equal
    once the header's `=?base64?...?=` wrapping is undone. An integer argument also matches its
    decimal spelling with a zero fraction (42 and "42.0")."""
    for declared in declared_param_headers(schema):
        sent = headers.get(declared.key)
        value = _value_at(arguments, declared.path)
        argument = ".".join(declared.path)
        rendered = None if value is None else _rendered(value)
        if rendered is None:
            if sent is not None:
                raise _mismatch(f"the {declared.name} header was sent but the body's {argument!r} argument "
                                f"{'is absent' if value is None else 'cannot be sent as a header'}")
            continue
        if sent is None:
            raise _mismatch(f"the {declared.name} header is missing but the body's {argument!r} argument is present")
        if not _matches(declared.type, value, rendered, decode_header_value(sent)):
            raise _mismatch(f"the {declared.name} header does not match the body's {argument!r} argument")


def _value_at(arguments: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(arguments, Mapping):
            return None
        arguments = arguments.get(key)
    return arguments


def _rendered(value: Any) -> str | None:
    """The header spelling of an argument, as a client writes it; None for what has none."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, (str, int, float)):
        return None
    try:
        return str(value)
    except ValueError:  # an integer past Python's digit limit
        return None


def _matches(kind: str, value: Any, rendered: str, sent: str) -> bool:
    if kind == "integer" and not isinstance(value, bool) and isinstance(value, (int, float)) and _DECIMAL.fullmatch(sent):
        whole, _, fraction = sent.partition(".")
        if fraction.strip("0") or (isinstance(value, float) and not value.is_integer()):
            return False
        try:
            return int(whole) == int(value)
        except ValueError:  # past Python's digit limit
            return False
    return sent == rendered


def _mismatch(why: str) -> McpError:
    return McpError(HEADER_MISMATCH, f"Header mismatch: {why}")
