"""The REST API reference, generated from the gateway's own /openapi.json.

The document is made at build time the way a client would get it: a gateway is created (every
installed plugin loaded, AUTH_REQUIRED=false, a SQLite database in a temporary folder, no `.env`
read) and asked for /openapi.json in-process. The page lists every operation by tag, with its
parameters, request body fields and responses; the document itself is published beside it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path

from ref_markdown import cell, code, escape, table

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")


def openapi_document() -> dict:
    from forge.app import create_app
    from forge.settings import Settings

    forge_log = logging.getLogger("forge")
    level = forge_log.level
    forge_log.setLevel(logging.ERROR)  # the AUTH_REQUIRED=false warning is expected here
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                _env_file=None,
                app_name="Forge",
                app_root_path="",
                auth_required=False,
                plugins_disabled=[],
                database_url=f"sqlite:///{Path(folder) / 'docs.db'}",
            )
            app = create_app(settings)
            return asyncio.run(_fetch(app.quart_app))
    finally:
        forge_log.setLevel(level)


async def _fetch(quart_app) -> dict:
    response = await quart_app.test_client().get("/openapi.json")
    assert response.status_code == 200, f"/openapi.json answered {response.status_code}"
    return await response.get_json()


def document_json(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def operations(document: dict):
    """(tag, path, method, operation) for every operation, by tag, then path, then method."""
    found = []
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                operation = item[method]
                found.append(((operation.get("tags") or ["other"])[0], path, method, operation))
    return sorted(found, key=lambda row: (row[0], row[1], HTTP_METHODS.index(row[2])))


def explanation(operation: dict) -> str:
    """The view's docstring: quart-schema cuts it after its first line into summary and description."""
    text = "\n".join(part for part in (operation.get("summary"), operation.get("description")) if part)
    return " ".join(text.split())


def summary(operation: dict) -> str:
    """The first sentence of the explanation."""
    text = explanation(operation)
    return text.split(". ", 1)[0].rstrip(".") + "." if text else ""


def schema_name(schema: dict | None) -> str:
    """A short readable type for a JSON Schema."""
    if not schema:
        return "any"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema or "oneOf" in schema:
        choices = [schema_name(s) for s in schema.get("anyOf") or schema.get("oneOf")]
        return " or ".join(dict.fromkeys(choice for choice in choices if choice != "null")) + (
            " or null" if "null" in choices else ""
        )
    if "enum" in schema:
        return " \\| ".join(code(json.dumps(value)) for value in schema["enum"])
    kind = schema.get("type", "object")
    if kind == "array":
        return f"array of {schema_name(schema.get('items'))}"
    if kind == "object" and schema.get("title") and "properties" in schema:
        return schema["title"]
    return kind if isinstance(kind, str) else " or ".join(kind)


def field_rows(schema: dict, document: dict) -> list[list[str]]:
    schema = resolve(schema, document)
    required = set(schema.get("required", ()))
    return [
        [
            code(name),
            cell(schema_name(field)),
            "yes" if name in required else "",
            cell(field.get("description", "")),
        ]
        for name, field in schema.get("properties", {}).items()
    ]


def resolve(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def body_schema(holder: dict) -> dict | None:
    content = holder.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    return media.get("schema") if media else None


def render_operation(path: str, method: str, operation: dict, document: dict) -> list[str]:
    lines = [f"### {method.upper()} {escape(path)}", ""]
    text = explanation(operation)
    lines += [escape(text) if text else f"Operation {code(operation.get('operationId', '?'))}.", ""]
    parameters = operation.get("parameters", [])
    if parameters:
        rows = [
            [
                code(p["name"]),
                p["in"],
                cell(schema_name(p.get("schema"))),
                cell(_default(p.get("schema", {}))),
                cell(p.get("description", "")),
            ]
            for p in parameters
        ]
        lines += [table(["parameter", "in", "type", "default", "description"], rows), ""]
    request = body_schema(operation.get("requestBody", {}))
    if request:
        lines += [f"Request body: **{escape(schema_name(request))}**", ""]
        rows = field_rows(request, document)
        if rows:
            lines += [table(["field", "type", "required", "description"], rows), ""]
    responses = [
        f"{code(status)} {escape(schema_name(body_schema(answer)) if body_schema(answer) else answer.get('description') or '')}".rstrip()
        for status, answer in sorted(operation.get("responses", {}).items())
    ]
    if responses:
        lines += ["Responses: " + "; ".join(responses) + ".", ""]
    return lines


def _default(schema: dict) -> str:
    return json.dumps(schema["default"]) if "default" in schema and schema["default"] is not None else ""


def render(document: dict) -> str:
    info = document.get("info", {})
    rows = operations(document)
    out = [
        "# REST API",
        "",
        "<!-- Generated from the gateway's /openapi.json by docs/gen/ref_api.py. -->",
        "",
        (
            f"The management API of {escape(info.get('title', 'Forge'))} {escape(info.get('version', ''))}, "
            f"OpenAPI {escape(document.get('openapi', '3'))}. A running gateway serves this document at "
            "`/openapi.json` and a browser view of it at `/docs`; the copy this page was made from is "
            "[openapi.json](openapi.json). It was generated with every plugin installed where the "
            "documentation was built."
        ),
        "",
        (
            "Every operation needs credentials (HTTP Basic or a bearer token, see "
            "[Auth tokens](../howto/auth-tokens.md)) except `/health`, `/ready`, `/version` and the document "
            'itself. Bad input is answered with a 4xx status and a body `{"error": {"code", "message", "details"}}`.'
        ),
        "",
        (
            "MCP endpoints (`/mcp`, `/servers/{id}/mcp`, `/rpc`, `/sse`, `/ws`) are served in front of this API, "
            "speak JSON-RPC rather than REST, and are not in this document."
        ),
        "",
        "## Operations",
        "",
        table(
            ["method", "path", "summary"],
            [
                [
                    method.upper(),
                    code(path),
                    cell(summary(op)) if summary(op) else code(op.get("operationId", "")),
                ]
                for _, path, method, op in rows
            ],
        ),
        "",
    ]
    for tag in dict.fromkeys(row[0] for row in rows):
        out += [f"## {escape(tag)}", ""]
        for _, path, method, operation in (row for row in rows if row[0] == tag):
            out += render_operation(path, method, operation, document)
    return "\n".join(out).rstrip() + "\n"
