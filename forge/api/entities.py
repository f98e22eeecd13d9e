"""The five entity kinds of the management API and how their payloads become stored values.

Layer: api. Validation that needs the running gateway (is the integration type installed?) is
done here; field-level validation lives in `forge.api.schemas`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from quart import current_app

from forge.api import schemas
from forge.api.crud import EntityApi
from forge.api.errors import ApiError, invalid_field
from forge.secrets import keep_masked
from forge.services.uri_templates import UriTemplate

# The URL schemes an upstream may have, by transport; stdio's "url" is a command line.
UPSTREAM_SCHEMES = {"streamable_http": ("http", "https"), "sse": ("http", "https"), "websocket": ("ws", "wss")}


def _given(data) -> dict[str, Any]:
    """The fields the client actually sent (PUT/PATCH leave the others alone)."""
    return data.model_dump(exclude_unset=True, by_alias=False)


def tool_values(data, before: dict) -> dict:
    values = _given(data)
    if "integration_type" in values or not before:
        values["integration_type"] = values.get("integration_type") or "REST"
        adapters = current_app.config["FORGE_GATEWAY"].adapters
        if values["integration_type"] not in adapters:
            installed = ", ".join(sorted(adapters))
            message = f"integration type {values['integration_type']!r} has no adapter; installed: {installed}"
            raise ApiError(422, "unknown_integration_type", message)
    # Checked on what the tool will be after the write, so an update cannot leave it broken.
    if values.get("integration_type", before.get("integration_type")) == "REST":
        if not values.get("url", before.get("url")):
            raise invalid_field("url", "a REST tool needs a url")
    for key in ("headers", "annotations", "input_schema"):
        if key in values and values[key] is None:
            values[key] = {}
    _keep_masked_headers(values, before)
    if not before:
        values.setdefault("input_schema", {"type": "object", "properties": {}})
    return values


def resource_values(data, before: dict) -> dict:
    values = _given(data)
    if "content" in values:
        values["text"] = values.pop("content")
        values.setdefault("blob", None)
    elif values.get("blob") is not None:
        values["text"] = None
    if "uri" in values:
        values["is_template"] = UriTemplate(values["uri"]).is_template
        if not before:
            values.setdefault("name", values["uri"])
    if values.get("completions") is None:
        values.pop("completions", None)
    return values


def prompt_values(data, before: dict) -> dict:
    values = _given(data)
    values.pop("arguments", None)
    if "arguments" in data.model_fields_set:
        values["argument_schema"] = data.argument_schema
    if values.get("argument_schema") is None and ("argument_schema" in values or not before):
        values["argument_schema"] = {"type": "object", "properties": {}}
    return values


def server_values(data, before: dict) -> dict:
    return _given(data)


def gateway_values(data, before: dict) -> dict:
    values = _given(data)
    if values.get("headers") is None:
        values.pop("headers", None)
    _keep_masked_headers(values, before)
    if values.get("transport") is None:
        values.pop("transport", None)
    transport = values.get("transport") or before.get("transport") or "streamable_http"
    url = urlsplit(values.get("url", before.get("url")))
    schemes = UPSTREAM_SCHEMES.get(transport)
    if schemes and (url.scheme not in schemes or not url.netloc):
        raise invalid_field("url", f"a {transport} upstream needs a {' or '.join(s + '://' for s in schemes)} URL")
    return values


def _keep_masked_headers(values: dict, before: dict) -> None:
    """Headers sent back as the API showed them ("****") keep their stored values."""
    if "headers" in values:
        try:
            values["headers"] = keep_masked(values["headers"], before.get("headers"))
        except ValueError as error:
            raise invalid_field("headers", str(error)) from None


async def _resource_written(gateway, before: dict | None, after: dict | None) -> None:
    for record in (before, after):
        if record is not None:
            await gateway.resource_updated(record["uri"])


ENTITY_APIS = (
    EntityApi("tools", schemas.ToolCreate, schemas.ToolUpdate, schemas.ToolOut, schemas.ToolPage, tool_values),
    EntityApi(
        "resources",
        schemas.ResourceCreate,
        schemas.ResourceUpdate,
        schemas.ResourceOut,
        schemas.ResourcePage,
        resource_values,
        after_write=_resource_written,
    ),
    EntityApi("prompts", schemas.PromptCreate, schemas.PromptUpdate, schemas.PromptOut, schemas.PromptPage, prompt_values),
    EntityApi("servers", schemas.ServerCreate, schemas.ServerUpdate, schemas.ServerOut, schemas.ServerPage, server_values),
    EntityApi(
        "gateways", schemas.GatewayCreate, schemas.GatewayUpdate, schemas.GatewayOut, schemas.GatewayPage, gateway_values
    ),
)
