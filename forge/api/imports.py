"""Import and export: `POST /tools/import/openapi`, `GET /export`, `POST /import`.

Layer: api, over the pure converters in `forge.services` (`openapi_import`, `catalog_io`) and the
planned writes of `forge.api.import_plan`. Every import plans and validates everything first and
writes only then, all of it or nothing; `dry_run` answers the plan and writes nothing.
Authorization: an OpenAPI import writes tools ("write" on "tools"); a catalog export or import
touches every kind and its secrets ("admin" on "catalog").
"""

from __future__ import annotations

from typing import Any, Literal

import httpcore
import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from quart import Blueprint, current_app, g
from quart_schema import tag, validate_headers, validate_querystring, validate_request, validate_response

from forge import __version__
from forge.api.bodies import require_json_object
from forge.api.catalog_plan import CatalogPlan
from forge.api.errors import ApiError
from forge.api.guard import requires
from forge.api.import_plan import Change, apply, validated
from forge.api.schemas import ErrorBody, Strict
from forge.outbound import OutboundPolicy, OutboundRefused
from forge.services import openapi_import
from forge.services.catalog_io import DocumentError, SecretBox, export_document, read_document

blueprint = Blueprint("imports", __name__)
blueprint.before_request(require_json_object)
# Tool fields an OpenAPI re-import compares; headers only when credentials are given again.
OPENAPI_FIELDS = ("description", "integration_type", "url", "method", "input_schema", "annotations")


def _gateway():
    return current_app.config["FORGE_GATEWAY"]


# --- OpenAPI ------------------------------------------------------------------------------------


class OpenApiImport(Strict):
    """An OpenAPI 3.0/3.1 or Swagger 2.0 document (`spec`, or a `url` Forge fetches) to import
    as REST tools, one per operation."""

    spec: dict[str, Any] | None = Field(None, description="The document itself (JSON).")
    url: str | None = Field(
        None, max_length=4096, description="Where Forge fetches the document (JSON or YAML)."
    )
    base_url: str | None = Field(
        None, max_length=4096, description="Overrides the document's servers[0].url."
    )
    headers: dict[str, str] | None = Field(
        None, description="Headers stored on every operation that needs auth."
    )
    credential: str | None = Field(
        None, description="A token or key, stored as the header the operation's security scheme names."
    )
    scheme: str | None = Field(
        None, description="Which security scheme `credential` is for (default: the operation's)."
    )
    include_tags: list[str] = Field(
        default_factory=list, description="Only operations with one of these tags."
    )
    exclude_tags: list[str] = Field(default_factory=list)
    include_paths: list[str] = Field(
        default_factory=list, description='Only paths matching a glob, e.g. "/pets*".'
    )
    exclude_paths: list[str] = Field(default_factory=list)
    prefix: str = Field(
        "", pattern=r"^[A-Za-z0-9_./-]{0,32}$", description='Put before every tool name, e.g. "petstore_".'
    )
    dry_run: bool = Field(False, description="Answer what would change; change nothing.")
    prune: bool = Field(
        False, description="Delete tools this API's earlier imports made whose operation is gone."
    )
    validate_spec: bool = Field(True, description="Refuse a document openapi-spec-validator finds invalid.")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.spec is None) == (self.url is None):
            raise ValueError('give the document as "spec" or its "url", one of them')
        return self


class OpenApiReport(BaseModel):
    dry_run: bool
    api: dict[str, str]
    created: list[str]
    updated: list[dict[str, Any]]
    unchanged: list[str]
    removed_from_spec: list[str]
    pruned: list[str]
    skipped: list[dict[str, str]]
    warnings: list[str]


@blueprint.post("/tools/import/openapi")
@tag(["tools"])
@validate_request(OpenApiImport)
@validate_response(OpenApiReport, 200)
@validate_response(ErrorBody, 422)
@requires("write", "tools")
async def import_openapi(data: OpenApiImport):
    """Create or update one REST tool per operation; answer what was created, updated (and which
    fields), left unchanged, and which earlier tools the spec no longer has."""
    gateway = _gateway()
    document = data.spec if data.spec is not None else await _fetch(data.url, gateway.settings)
    options = openapi_import.ImportOptions(
        base_url=data.base_url,
        headers=data.headers or {},
        credential=data.credential,
        scheme=data.scheme,
        include_tags=tuple(data.include_tags),
        exclude_tags=tuple(data.exclude_tags),
        include_paths=tuple(data.include_paths),
        exclude_paths=tuple(data.exclude_paths),
        prefix=data.prefix,
        validate=data.validate_spec,
        source_url=data.url,
    )
    try:
        converted = openapi_import.convert(document, options)
    except openapi_import.SpecError as error:
        raise ApiError(422, "invalid_spec", str(error), error.details) from None
    changes, report = _plan_openapi(await gateway.store.snapshot(), converted, data)
    report["dry_run"] = data.dry_run
    if not data.dry_run:
        await apply(gateway, changes, g.principal)
    return report


async def _fetch(url: str, settings) -> dict:
    limit = settings.max_body_bytes
    transport = OutboundPolicy.of(settings).guard_httpx(httpx.AsyncHTTPTransport(), httpcore.ConnectError)
    try:
        async with (
            httpx.AsyncClient(timeout=settings.tool_timeout, follow_redirects=True, transport=transport) as client,
            client.stream("GET", url) as response,
        ):
            response.raise_for_status()
            raw = bytearray()
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) > limit:
                    raise ApiError(
                        422, "invalid_spec", f"the document at {url} is over MAX_BODY_BYTES ({limit})"
                    )
    except OutboundRefused as refused:  # on any redirect hop too
        raise ApiError(422, "outbound_refused", f"cannot fetch the document at {url}: {refused}") from None
    except httpx.HTTPError as error:
        raise ApiError(422, "spec_unreachable", f"cannot fetch the document at {url}: {error}") from None
    try:
        return openapi_import.load_document(bytes(raw))
    except openapi_import.SpecError as error:
        raise ApiError(422, "invalid_spec", f"{url}: {error}") from None


def _plan_openapi(snapshot, converted, data: OpenApiImport) -> tuple[list[Change], dict]:
    tools = {tool["name"]: tool for tool in snapshot.get("tools", [])}
    compared = OPENAPI_FIELDS + (("headers",) if converted.sets_headers else ())
    changes: list[Change] = []
    report: dict[str, Any] = {
        "api": {"title": converted.title, "version": converted.version, "base_url": converted.base_url},
        "created": [],
        "updated": [],
        "unchanged": [],
        "removed_from_spec": [],
        "pruned": [],
        "skipped": list(converted.skipped),
        "warnings": list(converted.warnings),
    }
    for payload in converted.tools:
        original_name = payload.pop("original_name")
        name, before = payload["name"], tools.get(payload["name"])
        if before is not None and before.get("gateway_id"):
            report["skipped"].append(
                {"operation": original_name, "reason": f"{name!r} is a tool of a gateway"}
            )
            continue
        problems: list[dict] = []
        values = validated("tools", payload, {}, name, problems)
        if values is None:
            reason = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            report["skipped"].append({"operation": original_name, "reason": reason})
            continue
        values["original_name"] = original_name
        if before is None:
            changes.append(Change("tools", "create", name, values))
            report["created"].append(name)
            continue
        fields = [field for field in compared if values.get(field) != before.get(field)]
        if not fields:
            report["unchanged"].append(name)
            continue
        update = {field: values[field] for field in fields} | {"original_name": original_name}
        changes.append(Change("tools", "update", name, update, before, fields))
        report["updated"].append({"name": name, "fields": fields})
    holders = {server["name"]: set(server.get("tool_ids") or ()) for server in snapshot.get("servers", [])}
    held = set().union(*holders.values())
    for tool in sorted(tools.values(), key=lambda t: t["name"]):
        if not _gone_from(tool, converted, data.prefix):
            continue
        report["removed_from_spec"].append(tool["name"])
        if not data.prune:
            continue
        if tool["id"] in held:
            servers = ", ".join(sorted(name for name, ids in holders.items() if tool["id"] in ids))
            report["warnings"].append(f"{tool['name']!r} was kept: virtual server(s) {servers} hold it")
            continue
        changes.append(Change("tools", "delete", tool["name"], before=tool))
        report["pruned"].append(tool["name"])
    return changes, report


def _gone_from(tool: dict, converted, prefix: str) -> bool:
    """True for a tool an earlier import of this API made whose operation the document lacks."""
    url, base = tool.get("url") or "", converted.base_url
    return (
        bool(tool.get("original_name"))
        and not tool.get("gateway_id")
        and tool.get("integration_type") == "REST"
        and (url == base or url.startswith(base + "/"))
        and tool["name"].startswith(prefix)
        and tool["original_name"] not in converted.operations
    )


# --- catalog documents --------------------------------------------------------------------------


class ExportQuery(BaseModel):
    include_secrets: bool = Field(
        False, description="Seal header values under the X-Forge-Passphrase header's value."
    )


class ExportHeaders(BaseModel):
    x_forge_passphrase: str | None = None


class Document(BaseModel):
    """A catalog document: {"forge_export_version": 1, "tools": [...], "resources": [...], ...}."""

    model_config = ConfigDict(extra="allow")


@blueprint.get("/export")
@tag(["catalog"])
@validate_querystring(ExportQuery)
@validate_headers(ExportHeaders)
@validate_response(Document)
@validate_response(ErrorBody, 422)
@requires("admin", "catalog")
async def export_catalog(query_args: ExportQuery, headers: ExportHeaders):
    """The whole catalog as one versioned JSON document, members referenced by name. Header
    values are left out (null), or with `include_secrets` sealed under the passphrase."""
    box = None
    if query_args.include_secrets:
        if not headers.x_forge_passphrase:
            raise ApiError(
                422, "passphrase_required", "include_secrets needs the passphrase in X-Forge-Passphrase"
            )
        box = SecretBox(headers.x_forge_passphrase)
    return export_document(await _gateway().store.snapshot(), box=box, forge_version=__version__)


class CatalogImport(Strict):
    """A catalog document to import (Forge's export, or ContextForge's), with options. A bare
    document is accepted too, imported with the defaults."""

    document: dict[str, Any] = Field(validation_alias=AliasChoices("document", "import_data"))
    on_conflict: Literal["skip", "update", "rename"] = Field(
        "update",
        validation_alias=AliasChoices("on_conflict", "conflict_strategy"),
        description="What to do with an entity the catalog already has in another form.",
    )
    dry_run: bool = Field(False, description="Answer what would change; change nothing.")
    passphrase: str | None = Field(None, description="Opens the secrets of a document exported with one.")
    source_secret: str | None = Field(
        None, description="A ContextForge export's AUTH_ENCRYPTION_SECRET (default: this gateway's)."
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_document(cls, value):
        bare = isinstance(value, dict) and not {"document", "import_data"} & set(value)
        if bare and ("forge_export_version" in value or "entities" in value):
            return {"document": value}
        return value


class CatalogReport(BaseModel):
    dry_run: bool
    format: str
    created: dict[str, list[str]]
    updated: dict[str, list[dict[str, Any]]]
    unchanged: dict[str, list[str]]
    skipped: dict[str, list[str]]
    renamed: dict[str, list[dict[str, str]]]
    warnings: list[str]


@blueprint.post("/import")
@tag(["catalog"])
@validate_request(CatalogImport)
@validate_response(CatalogReport, 200)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
@requires("admin", "catalog")
async def import_catalog(data: CatalogImport):
    """Create, update or leave alone each entity of the document; a document with any problem
    changes nothing and answers every problem."""
    gateway = _gateway()
    try:
        incoming = read_document(
            data.document,
            passphrase=data.passphrase,
            source_secret=data.source_secret or gateway.settings.auth_encryption_secret,
        )
    except DocumentError as error:
        raise ApiError(422, "invalid_document", str(error), error.details) from None
    plan = CatalogPlan(await gateway.store.snapshot(), incoming, data.on_conflict).build()
    if not data.dry_run:
        await apply(gateway, plan.changes, g.principal)
    return {"dry_run": data.dry_run, "format": incoming.format, **plan.report}
