"""Request and response models of the management API (pydantic; quart-schema turns them into
/openapi.json).

Layer: api. Field names follow ContextForge's payloads (`input_schema`, `template`,
`argument_schema`, `mime_type`, `content`), and the MCP spellings (`inputSchema`, `mimeType`)
are accepted too, so either community's curl examples work.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from jsonschema import SchemaError, validators
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.functional_serializers import PlainSerializer

from forge.mcp.param_headers import param_header_problem
from forge.secrets import MASK, mask_values
from forge.services.prompts import PromptError, check_template
from forge.services.uri_templates import UriTemplate, UriTemplateError

# MCP's rule for tool names (the conformance suite checks it on every listed tool).
TOOL_NAME = r"^[A-Za-z0-9_./-]{1,64}$"
HTTP_METHODS = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
TRANSPORTS = Literal["streamable_http", "sse", "websocket", "stdio"]
TRANSPORT_SPELLINGS = {"streamablehttp": "streamable_http", "streamable-http": "streamable_http", "http": "streamable_http", "ws": "websocket"}
# Text kept byte for byte (resource content, prompt templates): `Strict` strips every other string.
Verbatim = Annotated[str, StringConstraints(strip_whitespace=False)]
# Upstream credentials (headers) leave the API masked: each name with the value "****"; sending
# "****" back keeps the stored value (`forge.secrets.keep_masked`).
MaskedSecrets = Annotated[
    dict[str, str],
    PlainSerializer(mask_values, return_type=dict[str, str]),
    Field(description=f'Header names with every value shown as "{MASK}"; send "{MASK}" back to keep a value.'),
]


def check_object_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A valid JSON Schema describing an object: MCP's tool input/output and prompt arguments are."""
    if schema is None:
        return None
    try:
        validators.validator_for(schema, default=validators.Draft202012Validator).check_schema(schema)
    except SchemaError as error:
        raise ValueError(f"not a valid JSON Schema: {error.message}") from None
    if schema.get("type", "object") != "object":
        raise ValueError(f'must describe an object ("type": "object"), not {schema["type"]!r}')
    return schema


def check_input_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A tool's input schema: an object schema whose `x-mcp-header` annotations, if any, follow
    the 2026-07-28 rules (clients drop a tool that breaks them; forge.mcp.param_headers)."""
    schema = check_object_schema(schema)
    problem = param_header_problem(schema)
    if problem is not None:
        raise ValueError(problem)
    return schema


def check_uri_template(uri: str) -> UriTemplate:
    """Parse an RFC 6570 template, also refusing braces outside a {expression}, which it would take
    for literal text."""
    try:
        template = UriTemplate(uri)
    except UriTemplateError as error:
        raise ValueError(str(error)) from None
    if re.search(r"[{}]", re.sub(r"\{[^{}]*\}", "", uri)):
        raise ValueError("has an unmatched '{' or '}'")
    return template


def check_url_template(url: str | None) -> str | None:
    if url is None:
        return None
    check_uri_template(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


def not_null(*names: str):
    """A validator refusing an explicit null for `names`: they may be left out, but every stored
    entity has a value for them."""

    def check(cls, value):
        if value is None:
            raise ValueError("may be left out, but not null")
        return value

    return field_validator(*names, mode="before")(classmethod(check))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class Page(BaseModel):
    total: int
    offset: int
    limit: int


class ListQuery(BaseModel):
    offset: int = Field(0, ge=0, le=2**63 - 1)  # a 64-bit OFFSET: larger overflows the database driver
    limit: int = Field(50, ge=1, le=1000)
    search: str | None = Field(None, max_length=255, description="Case-insensitive substring of the name (or URI).")
    enabled: bool | None = None
    gateway_id: str | None = None


class DeleteQuery(BaseModel):
    force: bool = Field(False, description="Also take the entity out of the virtual servers holding it.")


class ErrorBody(BaseModel):
    error: dict[str, Any]


# --- tools ------------------------------------------------------------------------------------------


class ToolFields(Strict):
    description: str | None = Field(None, max_length=10_000)
    integration_type: str | None = Field(
        None, validation_alias=AliasChoices("integration_type", "integrationType"), max_length=32
    )
    url: str | None = Field(None, max_length=4096, description="Upstream URL; {name} segments take arguments.")
    method: HTTP_METHODS | None = Field(None, validation_alias=AliasChoices("method", "request_type", "requestType"))
    headers: dict[str, str] | None = None
    input_schema: dict[str, Any] | None = Field(None, validation_alias=AliasChoices("input_schema", "inputSchema"))
    output_schema: dict[str, Any] | None = Field(
        None, validation_alias=AliasChoices("output_schema", "outputSchema")
    )
    annotations: dict[str, Any] | None = None
    timeout: float | None = Field(None, gt=0, le=3600)
    enabled: bool | None = None

    _input_schema = field_validator("input_schema")(classmethod(lambda cls, v: check_input_schema(v)))
    _output_schema = field_validator("output_schema")(classmethod(lambda cls, v: check_object_schema(v)))
    _url = field_validator("url")(classmethod(lambda cls, v: check_url_template(v)))
    _not_null = not_null("method", "enabled")

    @field_validator("integration_type")
    @classmethod
    def _upper(cls, value):
        return value.upper() if value else value


class ToolCreate(ToolFields):
    """A new tool. A REST tool, the default integration type, needs a `url`."""

    name: str = Field(pattern=TOOL_NAME)


class ToolUpdate(ToolFields):
    name: str | None = Field(None, pattern=TOOL_NAME)
    _name = not_null("name")


class ToolPinning(BaseModel):
    """An imported tool's pinned definition (federation plugin): the approved one, and a change the
    upstream made to it that awaits an administrator (POST /tools/{id}/approve or /reject)."""

    status: Literal["approved", "changed", "new", "rejected"] = Field(
        description='"changed": the upstream changed the definition, the approved one is served (or, '
        '`withheld`, none); "new": awaits a first approval; "rejected": a change was refused.'
    )
    approved_hash: str | None = Field(None, description="sha256 of the approved definition's pinned fields.")
    pending_hash: str | None = Field(None, description="sha256 of what the upstream offers instead.")
    withheld: bool = Field(False, description="Kept from MCP clients until approved.")
    diff: str | None = Field(None, description="Unified diff of the approved and the upstream definitions (JSON).")
    fields: dict[str, Any] | None = Field(None, description="Each changed field: {before, after}.")
    detected_at: str | None = None
    decided_at: str | None = None
    decided_by: str | None = None


class ToolOut(BaseModel):
    id: str
    name: str
    description: str | None
    integration_type: str
    url: str | None
    method: str
    headers: MaskedSecrets
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: dict[str, Any]
    timeout: float | None
    enabled: bool
    gateway_id: str | None
    created_at: datetime
    updated_at: datetime
    original_name: str | None = None
    metrics: dict[str, Any] | None = None
    pinning: ToolPinning | None = None

    @model_validator(mode="before")
    @classmethod
    def _pinning(cls, data):
        # Stored as two columns: the status (indexed, for filtering) and the details.
        if isinstance(data, dict) and "pin_status" in data:
            status = data.get("pin_status")
            data = {**data, "pinning": {**(data.get("pinning") or {}), "status": status} if status else None}
        return data


class ToolPage(Page):
    items: list[ToolOut]


# --- resources --------------------------------------------------------------------------------------


class ResourceFields(Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = Field(None, max_length=10_000)
    mime_type: str | None = Field(None, validation_alias=AliasChoices("mime_type", "mimeType"), max_length=255)
    content: Verbatim | None = Field(
        None, validation_alias=AliasChoices("content", "text"), description="Text content."
    )
    blob: str | None = Field(None, description="Binary content, base64.")
    completions: dict[str, list[str]] | None = None
    enabled: bool | None = None

    _not_null = not_null("name", "enabled")

    @field_validator("blob")
    @classmethod
    def _base64(cls, value):
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                raise ValueError("must be base64") from None
        return value

    @model_validator(mode="after")
    def _one_content(self):
        if self.content is not None and self.blob is not None:
            raise ValueError("give content (text) or blob (base64), not both")
        return self


def check_resource_uri(uri: str | None) -> str | None:
    if uri is None:
        return None
    if ":" not in uri:
        raise ValueError("must be an absolute URI with a scheme, e.g. docs://readme")
    check_uri_template(uri)
    return uri


class ResourceCreate(ResourceFields):
    uri: str = Field(min_length=1, max_length=1024)
    _uri = field_validator("uri")(classmethod(lambda cls, v: check_resource_uri(v)))


class ResourceUpdate(ResourceFields):
    uri: str | None = Field(None, min_length=1, max_length=1024)
    _uri = field_validator("uri")(classmethod(lambda cls, v: check_resource_uri(v)))
    _uri_not_null = not_null("uri")


class ResourceOut(BaseModel):
    id: str
    uri: str
    name: str
    description: str | None
    mime_type: str | None
    text: str | None
    blob: str | None
    is_template: bool
    completions: dict[str, Any]
    enabled: bool
    gateway_id: str | None
    created_at: datetime
    updated_at: datetime


class ResourcePage(Page):
    items: list[ResourceOut]


# --- prompts ----------------------------------------------------------------------------------------


class PromptArgument(Strict):
    name: str
    description: str | None = None
    required: bool = False


def arguments_to_schema(arguments: list[PromptArgument]) -> dict[str, Any]:
    """MCP-style argument lists become the JSON Schema Forge stores."""
    properties = {a.name: {"type": "string", **({"description": a.description} if a.description else {})} for a in arguments}
    return {"type": "object", "properties": properties, "required": [a.name for a in arguments if a.required]}


class PromptFields(Strict):
    description: str | None = Field(None, max_length=10_000)
    template: Verbatim | None = Field(None, max_length=1_000_000)
    argument_schema: dict[str, Any] | None = Field(
        None, validation_alias=AliasChoices("argument_schema", "argumentSchema")
    )
    arguments: list[PromptArgument] | None = Field(None, description="MCP-style arguments; an alternative to argument_schema.")
    enabled: bool | None = None

    _schema = field_validator("argument_schema")(classmethod(lambda cls, v: check_object_schema(v)))
    _not_null = not_null("template", "enabled")

    @field_validator("template")
    @classmethod
    def _template(cls, value):
        if value is not None:
            try:
                check_template(value)
            except PromptError as error:
                raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _arguments(self):
        if self.arguments is not None:
            if self.argument_schema is not None:
                raise ValueError("give argument_schema or arguments, not both")
            self.argument_schema = arguments_to_schema(self.arguments)
        return self


class PromptCreate(PromptFields):
    name: str = Field(min_length=1, max_length=255)
    template: Verbatim = Field(max_length=1_000_000)


class PromptUpdate(PromptFields):
    name: str | None = Field(None, min_length=1, max_length=255)
    _name = not_null("name")


class PromptOut(BaseModel):
    id: str
    name: str
    description: str | None
    template: str
    argument_schema: dict[str, Any]
    enabled: bool
    gateway_id: str | None
    original_name: str | None = None
    created_at: datetime
    updated_at: datetime


class PromptPage(Page):
    items: list[PromptOut]


# --- virtual servers --------------------------------------------------------------------------------


class ServerFields(Strict):
    description: str | None = Field(None, max_length=10_000)
    icon: str | None = Field(None, max_length=4096)
    tool_ids: list[str] | None = Field(None, validation_alias=AliasChoices("tool_ids", "associated_tools", "tools"))
    resource_ids: list[str] | None = Field(
        None, validation_alias=AliasChoices("resource_ids", "associated_resources", "resources")
    )
    prompt_ids: list[str] | None = Field(
        None, validation_alias=AliasChoices("prompt_ids", "associated_prompts", "prompts")
    )
    enabled: bool | None = None

    _not_null = not_null("tool_ids", "resource_ids", "prompt_ids", "enabled")


class ServerCreate(ServerFields):
    name: str = Field(min_length=1, max_length=255)


class ServerUpdate(ServerFields):
    name: str | None = Field(None, min_length=1, max_length=255)
    _name = not_null("name")


class ServerOut(BaseModel):
    id: str
    name: str
    description: str | None
    icon: str | None
    tool_ids: list[str]
    resource_ids: list[str]
    prompt_ids: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ServerPage(Page):
    items: list[ServerOut]


# --- gateways ---------------------------------------------------------------------------------------


class GatewayFields(Strict):
    description: str | None = Field(None, max_length=10_000)
    transport: TRANSPORTS | None = None
    headers: dict[str, str] | None = None
    prefix: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{0,48}$",
        description='Prefix of imported names ("<prefix>.<name>"); omitted: the gateway\'s name; "": none.',
    )
    enabled: bool | None = None

    _not_null = not_null("enabled")

    @field_validator("transport", mode="before")
    @classmethod
    def _transport(cls, value):
        # ContextForge spells them in upper case ("SSE", "STREAMABLEHTTP").
        if isinstance(value, str):
            value = value.lower()
            return TRANSPORT_SPELLINGS.get(value, value)
        return value


class GatewayCreate(GatewayFields):
    name: str = Field(min_length=1, max_length=255)
    url: str = Field(min_length=1, max_length=4096, description="Upstream URL, or the command line for stdio.")


class GatewayUpdate(GatewayFields):
    name: str | None = Field(None, min_length=1, max_length=255)
    url: str | None = Field(None, min_length=1, max_length=4096)
    _names = not_null("name", "url")


class GatewayOut(BaseModel):
    id: str
    name: str
    url: str
    transport: str
    description: str | None
    headers: MaskedSecrets
    capabilities: dict[str, Any]
    state: str
    last_seen: datetime | None
    last_error: str | None
    prefix: str | None = None
    latency_ms: float | None = None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class GatewayPage(Page):
    items: list[GatewayOut]
