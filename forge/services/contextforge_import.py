"""ContextForge's configuration exports, read as Forge entities.

Layer: services, called by `forge.services.catalog_io.read_document`. Pure.

ContextForge (IBM/mcp-context-forge) exports `{"version", "exported_at", "entities": {"tools",
"gateways", "servers", "prompts", "resources", "roots"}, "metadata"}`. Its REST tools carry
`request_type` (Forge's `method`), `is_active` (`enabled`) and credentials as `auth_type` plus
`auth_value`: the request headers as JSON, AES-256-GCM encrypted with a key that is the SHA-256 of
its AUTH_ENCRYPTION_SECRET (12-byte nonce first, URL-safe base64). Forge decrypts them with the
secret it is given and stores them as the tool's or gateway's headers. Servers name their tools
in `tool_ids` or `associated_tools` (names, or ids of the exporting gateway, which cannot be
resolved here: those are reported and left out). Prompts describe their arguments as an
`input_schema`. Roots, tags, rate limits and JSONPath filters have no Forge counterpart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from forge.services.catalog_io import DocumentError, Incoming
from forge.services.openapi_import import sanitize_name

KIND_NAMES = ("tools", "gateways", "servers", "prompts", "resources", "roots")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
TRANSPORTS = {
    "SSE": "sse",
    "STREAMABLEHTTP": "streamable_http",
    "STREAMABLE_HTTP": "streamable_http",
    "HTTP": "streamable_http",
    "WEBSOCKET": "websocket",
    "WS": "websocket",
    "STDIO": "stdio",
}


def is_contextforge(document: Mapping[str, Any]) -> bool:
    return "version" in document and "entities" in document


def decode_auth(value: str, secret: str) -> dict:
    """The headers a ContextForge `auth_value` holds; ValueError when `secret` does not open it."""
    try:
        combined = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        plain = AESGCM(hashlib.sha256(secret.encode()).digest()).decrypt(combined[:12], combined[12:], None)
        headers = dict(orjson.loads(plain))  # a JSON object of headers
    except (binascii.Error, InvalidTag, TypeError, ValueError):
        raise ValueError("cannot be decrypted into headers") from None
    return {str(name): str(content) for name, content in headers.items()}


def read(document: Mapping[str, Any], secret: str | None) -> Incoming:
    entities = document["entities"]
    if not isinstance(entities, Mapping):
        raise DocumentError('"entities" of a ContextForge export must be an object')
    problems = [
        {"field": f"entities.{kind}", "message": "must be a list of objects"}
        for kind, listed in entities.items()
        if not isinstance(listed, list) or not all(isinstance(entry, Mapping) for entry in listed)
    ]
    unknown = sorted(set(entities) - set(KIND_NAMES))
    problems += [
        {"field": f"entities.{kind}", "message": "is not a kind ContextForge exports"} for kind in unknown
    ]
    if problems:
        raise DocumentError("the document is not a ContextForge export", problems)
    reader = _Reader(secret)
    incoming = Incoming(format="contextforge", entities={}, warnings=reader.warnings, strict_references=False)
    incoming.entities["tools"] = [t for t in map(reader.tool, entities.get("tools", [])) if t]
    incoming.entities["gateways"] = [reader.gateway(g) for g in entities.get("gateways", [])]
    incoming.entities["prompts"] = [reader.prompt(p) for p in entities.get("prompts", [])]
    incoming.entities["resources"] = [reader.resource(r) for r in entities.get("resources", [])]
    incoming.entities["servers"] = [reader.server(s) for s in entities.get("servers", [])]
    if entities.get("roots"):
        reader.warnings.append(
            f"{len(entities['roots'])} root(s) left out: roots are not part of Forge's catalog"
        )
    if reader.empty_resources:
        reader.warnings.append(
            f"{reader.empty_resources} resource(s) came without content (ContextForge exports none) and are empty"
        )
    return incoming


def _slug(name: str) -> str:
    """ContextForge's slug of a name: lower case, runs of other characters as one "-"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class _Reader:
    def __init__(self, secret: str | None):
        self.secret = secret
        self.warnings: list[str] = []
        self.tool_names: dict[str, str] = {}  # a ContextForge tool name -> the Forge name it became
        self.resource_uris: dict[str, str] = {}  # a resource's name -> its URI, Forge's key
        self.empty_resources = 0

    def _enabled(self, entry: Mapping[str, Any]) -> bool:
        return bool(entry.get("enabled", entry.get("is_active", True)))

    def _headers(self, entry: Mapping[str, Any], what: str) -> dict:
        headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
        auth_type, value = entry.get("auth_type"), entry.get("auth_value")
        if entry.get("auth_query_params"):
            self.warnings.append(
                f"{what}: credentials sent in the query string are not supported and were left out"
            )
        if not value:
            return headers
        if not self.secret:
            self.warnings.append(
                f"{what}: its {auth_type} credentials were left out (no source secret given)"
            )
            return headers
        try:
            headers.update(decode_auth(str(value), self.secret))
        except ValueError:
            self.warnings.append(
                f"{what}: its {auth_type} credentials were left out: they cannot be decrypted with the given "
                "source secret (the exporting ContextForge's AUTH_ENCRYPTION_SECRET)"
            )
        return headers

    def tool(self, entry: Mapping[str, Any]) -> dict | None:
        original = str(entry.get("original_name") or entry.get("name") or "")
        kind = str(entry.get("integration_type") or "REST").upper()
        if kind != "REST":
            self.warnings.append(
                f"tool {original!r}: integration type {kind} left out (only REST tools are imported;"
                " MCP tools come back with their gateway)"
            )
            return None
        name = sanitize_name(original)
        # Servers name tools by what ContextForge calls them: the original name or its slug.
        for alias in (original, str(entry.get("name") or original), _slug(original)):
            self.tool_names[alias] = name
        if name != original:
            self.warnings.append(
                f"tool {original!r} is named {name!r}: MCP tool names allow only A-Z a-z 0-9 _ . / -"
            )
        if entry.get("jsonpath_filter"):
            self.warnings.append(
                f"tool {name!r}: its JSONPath filter was left out (Forge answers the whole response)"
            )
        method = str(entry.get("request_type") or "POST").upper()
        tool = {
            "name": name,
            "description": entry.get("description"),
            "integration_type": "REST",
            "url": entry.get("url"),
            "method": method if method in HTTP_METHODS else "POST",
            "headers": self._headers(entry, f"tool {name!r}"),
            "input_schema": entry.get("input_schema") or {"type": "object", "properties": {}},
            "output_schema": entry.get("output_schema"),
            "annotations": entry.get("annotations") or {},
            "enabled": self._enabled(entry),
        }
        if original != name:
            tool["original_name"] = original
        return tool

    def gateway(self, entry: Mapping[str, Any]) -> dict:
        name = str(entry.get("name") or "")
        transport = str(entry.get("transport") or "SSE")
        return {
            "name": name,
            "url": entry.get("url"),
            "transport": TRANSPORTS.get(transport.upper().replace("-", ""), transport.lower()),
            "description": entry.get("description"),
            "headers": self._headers(entry, f"gateway {name!r}"),
            "enabled": self._enabled(entry),
        }

    def prompt(self, entry: Mapping[str, Any]) -> dict:
        schema = entry.get("input_schema") or entry.get("argument_schema") or {}
        properties = {
            str(name): {
                "type": "string",
                **({"description": spec["description"]} if spec.get("description") else {}),
            }
            for name, spec in (schema.get("properties") or {}).items()
            if isinstance(spec, Mapping)
        }
        required = [name for name in schema.get("required") or () if name in properties]
        return {
            "name": entry.get("original_name") or entry.get("name"),
            "description": entry.get("description"),
            "template": entry.get("template"),
            "argument_schema": {"type": "object", "properties": properties, "required": required},
            "enabled": self._enabled(entry),
        }

    def resource(self, entry: Mapping[str, Any]) -> dict:
        content = entry.get("content", entry.get("text"))
        if content is None:
            self.empty_resources += 1
        if entry.get("name") and entry.get("uri"):
            self.resource_uris[str(entry["name"])] = str(entry["uri"])
        return {
            "uri": entry.get("uri"),
            "name": entry.get("name") or entry.get("uri"),
            "description": entry.get("description"),
            "mime_type": entry.get("mime_type"),
            "text": content if isinstance(content, str) else "",
            "enabled": self._enabled(entry),
        }

    def server(self, entry: Mapping[str, Any]) -> dict:
        tools = entry.get("associated_tools") or entry.get("tool_ids") or []
        return {
            "name": entry.get("name"),
            "description": entry.get("description"),
            "icon": entry.get("icon"),
            "enabled": self._enabled(entry),
            "tools": [self.tool_names.get(str(ref), str(ref)) for ref in tools],
            "resources": [
                self.resource_uris.get(str(ref), str(ref)) for ref in entry.get("associated_resources") or []
            ],
            "prompts": [str(ref) for ref in entry.get("associated_prompts") or []],
        }
