"""OpenAPI 3.0/3.1 and Swagger 2.0 documents turned into REST tool definitions.

Layer: services. Pure: no I/O and no store. The import endpoint (`forge.api.imports`) fetches the
document, calls `convert`, and plans the writes; the REST adapter (`forge.defaults.rest_adapter`)
later runs what this module describes.

Each operation becomes one tool: its name from the operationId (or method and path), its
description from summary and description, one input schema gathering path, query, header and
body parameters with every `$ref` inlined, and a URL template `<server><path>` whose `{name}`
segments the adapter fills. Arguments the adapter would not place by default (a header, a query
parameter of a POST, a body that is not an object) carry `"x-forge-in"` in their property.

The document is checked with openapi-spec-validator (Swagger 2.0, OpenAPI 3.0 and 3.1) before
anything else, with its reference handlers removed so a `$ref` to another file or URL is refused
rather than fetched. `$ref`s are resolved with `referencing`, the resolver jsonschema itself uses.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import yaml
from openapi_spec_validator.shortcuts import get_validator_cls
from openapi_spec_validator.validation.exceptions import ValidatorDetectError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from forge.services.uri_templates import UriTemplate, UriTemplateError

TOOL_NAME_MAX = 64
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TOOL_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
BODYLESS = frozenset({"GET", "DELETE"})  # methods whose loose arguments the adapter sends as the query
# Headers OpenAPI says a parameter may not define (they come from the request itself).
RESERVED_HEADERS = frozenset({"accept", "content-type", "authorization"})
DOCUMENT_URI = "urn:forge:openapi"
MAX_DEPTH = 48  # deeper schemas are cut to "any value": a guard against pathological documents
MAX_ERRORS = 20


class SpecError(ValueError):
    """The document cannot be imported; `details` lists what is wrong, where."""

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class ImportOptions:
    """What to import and how: every field has the meaning of the API option of the same name."""

    base_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    credential: str | None = None
    scheme: str | None = None
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    prefix: str = ""
    validate: bool = True
    source_url: str | None = None  # where the document came from: relative server URLs resolve against it


@dataclass
class Converted:
    title: str
    version: str
    base_url: str
    tools: list[dict] = field(default_factory=list)  # tool payloads, plus "original_name"
    skipped: list[dict] = field(default_factory=list)  # {"operation", "reason"}
    warnings: list[str] = field(default_factory=list)
    # True when the payloads carry headers (credentials were given): only then are they compared.
    sets_headers: bool = False
    # The original names of all the document's operations, imported or not: what it still has.
    operations: set[str] = field(default_factory=set)


def load_document(raw: bytes | str) -> dict:
    """A JSON or YAML document as a dict; `SpecError` when it is neither, or not a mapping."""
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise SpecError(f"the document is neither JSON nor YAML: {error}") from None
    if not isinstance(document, dict):
        raise SpecError("the document must be a JSON or YAML mapping (an OpenAPI object)")
    return document


def sanitize_name(raw: str) -> str:
    """A tool name MCP accepts (^[A-Za-z0-9_./-]{1,64}$): other characters become "_", and a name
    too long keeps its start and a short hash of the whole, so it stays unique."""
    name = re.sub(r"[^A-Za-z0-9_./-]+", "_", raw).strip("_") or "operation"
    if len(name) > TOOL_NAME_MAX:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        name = f"{name[: TOOL_NAME_MAX - 9]}_{digest}"
    return name


def convert(document: Mapping[str, Any], options: ImportOptions = ImportOptions()) -> Converted:
    """Every operation of `document` selected by `options`, as tool payloads (see the module doc).
    Raises `SpecError` for a document that is not valid OpenAPI or has no usable server URL."""
    swagger = _check(document, options.validate)
    refs = Refs(document)
    info = document.get("info") or {}
    base_url = _base_url(document, swagger, options)
    converted = Converted(
        title=str(info.get("title", "")), version=str(info.get("version", "")), base_url=base_url
    )
    credentials = Credentials(document, swagger, options, converted.warnings)
    converted.sets_headers = credentials.given
    names: set[str] = set()
    for path, item in (document.get("paths") or {}).items():
        item = refs.resolve(item) if isinstance(item, Mapping) else {}
        shared = item.get("parameters") or []
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, Mapping):
                continue
            where = f"{method.upper()} {path}"
            converted.operations.add(original_name(operation, where))
            if not _selected(path, operation, options):
                continue
            try:
                tool = _tool(
                    refs, swagger, base_url, path, method.upper(), item, operation, shared, converted.warnings
                )
            except SkipOperation as reason:
                converted.skipped.append({"operation": where, "reason": str(reason)})
                continue
            tool["name"] = _unique(sanitize_name(options.prefix + tool["name"]), names)
            if credentials.given:
                tool["headers"] = credentials.for_operation(operation)
            converted.tools.append(tool)
    return converted


def original_name(operation: Mapping[str, Any], where: str) -> str:
    """What identifies an operation across versions of a document: its operationId, or "GET /path"."""
    return str(operation.get("operationId") or where)[:255]


class SkipOperation(Exception):
    """This operation cannot become a tool; the message says why."""


def _check(document: Mapping[str, Any], validate: bool) -> bool:
    """Validate the document; answer True for Swagger 2.0."""
    try:
        validator_class = get_validator_cls(document)
    except ValidatorDetectError:
        raise SpecError(
            'not an OpenAPI document: it needs "openapi": "3.0.x"/"3.1.x" or "swagger": "2.0"'
        ) from None
    swagger = "swagger" in document and "openapi" not in document
    if validate:
        # No reference handlers: a $ref to a file or URL fails here instead of being fetched.
        offline = type("OfflineValidator", (validator_class,), {"resolver_handlers": {}})
        try:
            errors = [
                {
                    "path": "/".join(str(part) for part in error.path) or "(document)",
                    # openapi-spec-validator 0.9 appends the failing schema and instance after a
                    # blank line: the first paragraph is the sentence a user needs.
                    "message": error.message.split("\n\n", 1)[0][:500],
                }
                for _, error in zip(range(MAX_ERRORS), offline(dict(document)).iter_errors(), strict=False)
            ]
        except Unresolvable as error:
            raise SpecError(
                f"a $ref points outside the document ({error.ref}); bundle the spec into one file"
            ) from None
        if errors:
            raise SpecError("the document is not valid OpenAPI", errors)
    return swagger


class Refs:
    """Inlines `$ref`s of one document; a reference to itself inside itself becomes "any value"."""

    def __init__(self, document: Mapping[str, Any]):
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.resolver = Registry().with_resource(DOCUMENT_URI, resource).resolver(base_uri=DOCUMENT_URI)

    def resolve(self, node: Any) -> Any:
        """`node` itself, or what its `$ref` points to (one level: a path item or an operation)."""
        if isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            return _lookup(self.resolver, node["$ref"]).contents
        return node

    def inline(self, node: Any, resolver=None, seen: tuple[int, ...] = (), depth: int = 0) -> Any:
        """`node` with every `$ref` in it replaced by what it points to, recursively."""
        resolver = resolver or self.resolver
        if depth > MAX_DEPTH:
            return {}
        if isinstance(node, list):
            return [self.inline(value, resolver, seen, depth + 1) for value in node]
        if not isinstance(node, Mapping):
            return node
        if isinstance(node.get("$ref"), str):
            resolved = _lookup(resolver, node["$ref"])
            marker = id(resolved.contents)
            if marker in seen:
                return {"description": f"(recursive: {node['$ref'].rsplit('/', 1)[-1]})"}
            target = self.inline(resolved.contents, resolved.resolver, (*seen, marker), depth + 1)
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            if not siblings or not isinstance(target, Mapping):
                return target
            return {**target, **self.inline(siblings, resolver, seen, depth + 1)}
        return {key: self.inline(value, resolver, seen, depth + 1) for key, value in node.items()}


def _lookup(resolver, ref: str):
    try:
        return resolver.lookup(ref)
    except Unresolvable:
        if not ref.startswith("#"):
            raise SpecError(
                f"a $ref points outside the document ({ref}); bundle the spec into one file"
            ) from None
        raise SpecError(f"$ref {ref!r} points at nothing in the document") from None


def _base_url(document: Mapping[str, Any], swagger: bool, options: ImportOptions) -> str:
    if options.base_url:
        return options.base_url.rstrip("/")
    if swagger:
        host = document.get("host")
        schemes = document.get("schemes") or ["https"]
        scheme = "https" if "https" in schemes else schemes[0]
        url = f"{scheme}://{host}{document.get('basePath', '')}" if host else document.get("basePath", "")
    else:
        servers = document.get("servers") or []
        url = _server_url(servers[0]) if servers else ""
    if options.source_url and not re.match(r"^https?://", url):
        url = urljoin(options.source_url, url or "/")
    if not re.match(r"^https?://[^/]", url):
        where = "host/basePath" if swagger else "servers[0].url"
        raise SpecError(
            f"the document's {where} ({url or 'missing'}) is not an absolute http(s) URL: give base_url"
        )
    return url.rstrip("/")


def _server_url(server: Mapping[str, Any]) -> str:
    url = str(server.get("url", ""))
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace("{" + name + "}", str(variable.get("default", "")))
    return url


def _selected(path: str, operation: Mapping[str, Any], options: ImportOptions) -> bool:
    tags = set(operation.get("tags") or ())
    if options.include_tags and not tags & set(options.include_tags):
        return False
    if tags & set(options.exclude_tags):
        return False
    if options.include_paths and not any(fnmatch.fnmatchcase(path, glob) for glob in options.include_paths):
        return False
    return not any(fnmatch.fnmatchcase(path, glob) for glob in options.exclude_paths)


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        suffix = f"_{number}"
        candidate, number = name[: TOOL_NAME_MAX - len(suffix)] + suffix, number + 1
    taken.add(candidate)
    return candidate


# --- one operation -----------------------------------------------------------------------------


def _tool(refs, swagger, base_url, path, method, item, operation, shared, warnings) -> dict:
    if method not in TOOL_METHODS:
        raise SkipOperation(f"method {method} is not one a REST tool can use")
    servers = operation.get("servers") or item.get("servers")
    if servers and not swagger and re.match(r"^https?://", _server_url(servers[0])):
        base_url = _server_url(servers[0]).rstrip("/")
    schema = InputSchema(method, swagger)
    by_key = {(p.get("in"), p.get("name")): p for p in refs.inline(list(shared)) if isinstance(p, Mapping)}
    own = refs.inline(list(operation.get("parameters") or []))
    by_key.update({(p.get("in"), p.get("name")): p for p in own if isinstance(p, Mapping)})
    where = f"{method} {path}"
    for parameter in by_key.values():
        schema.add_parameter(parameter, where, warnings)
    if not swagger and operation.get("requestBody"):
        schema.add_body(refs.inline(operation["requestBody"]), where, warnings)
    template = re.sub(r"\{([^{}]+)\}", lambda match: "{" + schema.path_name(match.group(1)) + "}", path)
    url = base_url + template
    try:
        UriTemplate(url)
    except UriTemplateError as error:
        raise SkipOperation(f"its path cannot be a URL template: {error}") from None
    name = operation.get("operationId") or re.sub(r"[^A-Za-z0-9]+", "_", f"{method.lower()} {path}").strip(
        "_"
    )
    return {
        "name": str(name),
        "original_name": original_name(operation, where),
        "description": _description(operation),
        "integration_type": "REST",
        "url": url,
        "method": method,
        "input_schema": schema.finish(),
        "annotations": _annotations(method, operation),
    }


def _description(operation: Mapping[str, Any]) -> str | None:
    parts = [str(operation[key]).strip() for key in ("summary", "description") if operation.get(key)]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    text = "\n\n".join(parts)
    if operation.get("deprecated"):
        text = f"(Deprecated) {text}".strip()
    return text[:10_000] or None


def _annotations(method: str, operation: Mapping[str, Any]) -> dict:
    """MCP tool annotations a client can show or act on, from what HTTP says about the method."""
    annotations: dict[str, Any] = {}
    if operation.get("summary"):
        annotations["title"] = str(operation["summary"]).strip()[:200]
    annotations["readOnlyHint"] = method == "GET"
    if method != "GET":
        annotations["destructiveHint"] = method in ("DELETE", "PUT")
    annotations["idempotentHint"] = method in ("GET", "PUT", "DELETE")
    annotations["openWorldHint"] = True
    return annotations


class InputSchema:
    """The one input schema of an operation, and where each argument travels."""

    def __init__(self, method: str, swagger: bool):
        self.method, self.swagger = method, swagger
        self.properties: dict[str, dict] = {}
        self.required: list[str] = []
        self.path_names: dict[str, str] = {}
        self.form: dict[str, dict] = {}  # Swagger 2.0 formData parameters, sent as a JSON body
        self.form_required: list[str] = []

    def path_name(self, wire: str) -> str:
        if wire not in self.path_names:  # a {placeholder} the parameters forgot: a required string
            self._add(wire, "path", {"type": "string"}, True)
        return self.path_names[wire]

    def add_parameter(self, parameter: Mapping[str, Any], where: str, warnings: list[str]) -> None:
        location, wire = parameter.get("in"), str(parameter.get("name", ""))
        if location == "header" and wire.lower() in RESERVED_HEADERS:
            return
        if location == "cookie":
            warnings.append(f"{where}: cookie parameter {wire!r} is not supported and was left out")
            return
        if location == "body":  # Swagger 2.0
            self._add_body_schema(json_schema(parameter.get("schema") or {}), bool(parameter.get("required")))
            return
        schema = json_schema(parameter.get("schema") if not self.swagger else _swagger_schema(parameter))
        if parameter.get("description") and "description" not in schema:
            schema["description"] = str(parameter["description"])
        if location == "formData":
            warnings.append(f"{where}: form parameter {wire!r} is sent in a JSON body, not form-encoded")
            self.form[wire] = schema
            if parameter.get("required"):
                self.form_required.append(wire)
            return
        self._add(wire, location, schema, location == "path" or bool(parameter.get("required")))

    def _add(self, wire: str, location: str, schema: dict, required: bool) -> None:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", wire).strip("_")[:64] or location
        if location == "path":
            name = re.sub(r"[^A-Za-z0-9_.]", "_", name)  # what a URL template variable may hold
        if name in self.properties:
            name = f"{name}_{location}"
        if location == "path":
            self.path_names[wire] = name
        elif location == "header" or (location == "query" and self.method not in BODYLESS):
            schema = {**schema, "x-forge-in": location}
        if name != wire and location != "path":
            schema = {**schema, "x-forge-name": wire}
        self.properties[name] = schema
        if required:
            self.required.append(name)

    def add_body(self, body: Mapping[str, Any], where: str, warnings: list[str]) -> None:
        content = body.get("content") or {}
        media = _json_media(content)
        if media is None:
            kinds = ", ".join(content) or "none"
            if body.get("required"):
                raise SkipOperation(
                    f"its request body ({kinds}) is not JSON, and the REST adapter sends JSON"
                )
            warnings.append(f"{where}: the optional request body ({kinds}) is not JSON and was left out")
            return
        if not media.startswith("application/json") and "json" not in media:
            warnings.append(f"{where}: the request body ({media}) is sent as JSON")
        self._add_body_schema(
            json_schema((content[media] or {}).get("schema") or {}), bool(body.get("required"))
        )

    def _add_body_schema(self, schema: dict, required: bool) -> None:
        properties = schema.get("properties")
        flat = (
            self.method not in BODYLESS
            and schema.get("type", "object") == "object"
            and isinstance(properties, dict)
            and properties
            and not ({"allOf", "anyOf", "oneOf"} & set(schema))
            and not set(properties) & set(self.properties)
            and all(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) for name in properties)
        )
        if flat:  # its fields become arguments of their own, sent as the JSON body by default
            self.properties.update(properties)
            if required:
                self.required.extend(name for name in schema.get("required") or () if name in properties)
            return
        name = "body" if "body" not in self.properties else "request_body"
        self.properties[name] = {**schema, "x-forge-in": "body"}
        if required:
            self.required.append(name)

    def finish(self) -> dict:
        if self.form:
            self._add_body_schema(
                {"type": "object", "properties": self.form, "required": self.form_required}, True
            )
        schema: dict[str, Any] = {"type": "object", "properties": self.properties}
        if self.required:
            schema["required"] = list(dict.fromkeys(self.required))
        return schema


def _json_media(content: Mapping[str, Any]) -> str | None:
    types = list(content)
    for test in (
        lambda t: t.split(";")[0].strip() == "application/json",
        lambda t: "json" in t,
        lambda t: t.startswith(("application/x-www-form-urlencoded", "multipart/form-data")),
        lambda t: t in ("*/*", "application/*"),
    ):
        for media in types:
            if test(media.lower()):
                return media
    return None


# --- schemas: OpenAPI's dialects to the JSON Schema 2020-12 MCP uses ---------------------------

SCHEMA_KEYS = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
)
SCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAP_KEYS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
OPENAPI_ONLY = ("discriminator", "xml", "externalDocs", "nullable", "x-nullable", "example")
SWAGGER_PARAMETER_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
)


def _swagger_schema(parameter: Mapping[str, Any]) -> dict:
    schema = {key: parameter[key] for key in SWAGGER_PARAMETER_KEYS if key in parameter}
    if schema.get("type") == "file":
        schema = {"type": "string", "description": "file content"}
    return schema


def json_schema(schema: Any) -> dict:
    """An (inlined) OpenAPI schema object as JSON Schema 2020-12: `nullable` becomes a "null" type,
    3.0's boolean exclusiveMinimum/Maximum become numbers, read-only properties (which a request
    does not send) and OpenAPI-only keywords go."""
    if isinstance(schema, bool):
        return {} if schema else {"not": {}}
    if not isinstance(schema, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in OPENAPI_ONLY:
            continue
        if key in SCHEMA_KEYS:
            out[key] = (
                json_schema(value) if isinstance(value, Mapping | bool) else [json_schema(v) for v in value]
            )
        elif key in SCHEMA_LIST_KEYS and isinstance(value, list):
            out[key] = [json_schema(item) for item in value]
        elif key in SCHEMA_MAP_KEYS and isinstance(value, Mapping):
            out[key] = {
                name: json_schema(item)
                for name, item in value.items()
                if not (key == "properties" and isinstance(item, Mapping) and item.get("readOnly"))
            }
        else:
            out[key] = value
    if "required" in out and isinstance(out.get("properties"), dict) and isinstance(out["required"], list):
        out["required"] = [name for name in out["required"] if name in out["properties"]] or None
        if out["required"] is None:
            del out["required"]
    for bound, limit in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    if "example" in schema and "examples" not in out:
        out["examples"] = [schema["example"]]
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        elif kind is None:
            out = {"anyOf": [out, {"type": "null"}]}
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


# --- credentials --------------------------------------------------------------------------------


class Credentials:
    """The headers an operation carries: `headers` as given, and `credential` written the way the
    operation's security scheme wants it (Bearer, Basic, or an API key header)."""

    def __init__(
        self, document: Mapping[str, Any], swagger: bool, options: ImportOptions, warnings: list[str]
    ):
        self.options = options
        self.warnings = warnings
        self.given = bool(options.headers or options.credential)
        components = (
            document.get("securityDefinitions")
            if swagger
            else (document.get("components") or {}).get("securitySchemes")
        )
        self.schemes: dict[str, Mapping] = dict(components or {})
        self.default = document.get("security")
        if options.scheme and options.scheme not in self.schemes:
            known = ", ".join(self.schemes) or "none"
            raise SpecError(f"the document has no security scheme {options.scheme!r} (it has: {known})")
        self._warned: set[str] = set()

    def for_operation(self, operation: Mapping[str, Any]) -> dict[str, str]:
        requirements = operation.get("security", self.default)
        if requirements == []:  # a public operation: no credential at all
            return {}
        headers: dict[str, str] = {}
        if self.options.credential:
            headers.update(self._mapped(self._scheme_name(requirements)))
        headers.update(self.options.headers)
        return headers

    def _scheme_name(self, requirements: Iterable[Mapping] | None) -> str | None:
        if self.options.scheme:
            return self.options.scheme
        for requirement in requirements or ():
            for name in requirement or {}:
                if name in self.schemes:
                    return name
        return next(iter(self.schemes)) if len(self.schemes) == 1 else None

    def _mapped(self, name: str | None) -> dict[str, str]:
        value = self.options.credential
        if name is None:
            return {"Authorization": f"Bearer {value}"}
        scheme = self.schemes[name]
        kind, http = scheme.get("type"), str(scheme.get("scheme", "")).lower()
        if kind == "apiKey":
            if scheme.get("in") == "header":
                return {str(scheme.get("name")): value}
            self._warn(
                name,
                f"security scheme {name!r} sends its key in the {scheme.get('in')}, which Forge "
                "cannot store; the credential was left out of the operations using it",
            )
            return {}
        if kind == "basic" or (kind == "http" and http == "basic"):
            encoded = value if ":" not in value else base64.b64encode(value.encode()).decode()
            return {"Authorization": f"Basic {encoded}"}
        return {"Authorization": f"Bearer {value}"}  # http bearer, oauth2, openIdConnect

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(message)
