"""Resource reads: static contents, URI templates rendered per read, cached with a TTL.

Layer: services. Called by the MCP engine for resources/read. Reads go through the cache the
`forge_cache` hook provides; the gateway forgets a URI's cached read when its resource changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError

from forge.mcp.jsonrpc import RESOURCE_NOT_FOUND, McpError
from forge.plugins import has_implementations, rewrite_chain
from forge.services import federated
from forge.services.prompts import _environment


def contents_of(resource: Mapping[str, Any], uri: str, variables: Mapping[str, str] | None = None) -> dict:
    """One MCP resource contents object; a template's text is rendered with its URI variables."""
    contents: dict[str, Any] = {"uri": uri}
    if resource.get("mime_type"):
        contents["mimeType"] = resource["mime_type"]
    if resource.get("blob") is not None:
        contents["blob"] = resource["blob"]
        return contents
    text = resource.get("text") or ""
    if variables is not None:
        try:
            text = _environment.from_string(text).render(**variables)
        except TemplateError as error:
            raise McpError(-32603, f"resource template {resource['uri']!r} failed to render: {error}") from None
    contents["text"] = text
    return contents


async def read_resource(gateway, scope, uri: str, principal, invocation=None) -> dict:
    """A ReadResourceResult dict for `uri` in `scope`; an unknown URI is `RESOURCE_NOT_FOUND`."""
    hooks = gateway.hook
    if has_implementations(hooks.forge_before_resource_read):
        uri = await rewrite_chain(hooks.forge_before_resource_read, "uri", gateway=gateway, uri=uri, principal=principal)
    resource, variables = _find(scope, uri)
    if federated.is_federated(resource):  # an upstream's resource: read it there, fresh
        result = await federated.adapter(gateway).read_resource(resource, uri, invocation)
    else:
        result = await _cached_read(gateway, resource, variables, uri)
    if has_implementations(hooks.forge_after_resource_read):
        result = await rewrite_chain(
            hooks.forge_after_resource_read, "result", gateway=gateway, uri=uri, result=result, principal=principal
        )
    return result


async def _cached_read(gateway, resource, variables, uri: str) -> dict:
    """Render a stored resource, or take its cached rendering.

    The key names the resource's id and version, so a read cached through one endpoint is never
    served from a scope that lacks the resource, and an edited or disabled resource (a template's
    every expansion included) is never answered from a stale entry. CACHE_TTL=0 turns caching off.
    """
    ttl = gateway.settings.cache_ttl
    if not ttl:
        return {"contents": [contents_of(resource, uri, variables)]}
    cache_key = f"resource:{uri}:{resource.get('id')}:{resource.get('updated_at')}"
    result = await gateway.cache.get(cache_key)
    if result is None:
        result = {"contents": [contents_of(resource, uri, variables)]}
        await gateway.cache.set(cache_key, result, ttl=ttl)
    return result


def _find(scope, uri: str) -> tuple[Mapping[str, Any], dict[str, str] | None]:
    resource = scope.resources.get(uri)
    if resource is not None:
        return resource, None
    found = scope.find_template(uri)
    if found is None:
        raise McpError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
    return found
