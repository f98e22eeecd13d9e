"""Registers, through Forge's management API, every conformance fixture Forge can hold itself.

Part of the conformance harness (`.ci/conformance` runs it against a fresh gateway). The fixtures
are those of the suite's reference "everything" server, with its names and texts: the suite calls
them by name. Prompts and resources Forge stores itself; the plain request/answer tools are REST
tools over `rest_upstream.py`. What Forge cannot hold before federation is listed, with the
reason, in NOT_YET.md and baselined in expected-failures-*.yaml.

    python tests/conformance/fixtures.py FORGE_URL UPSTREAM_URL
"""

from __future__ import annotations

import sys

import httpx

# A 1x1 PNG, the suite's own.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
NO_ARGUMENTS = {"type": "object", "properties": {}}

# The suite's json-schema-2020-12 scenario checks that tools/list keeps this inputSchema verbatim.
JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def tools(upstream: str) -> list[dict]:
    def rest(name: str, path: str, description: str, input_schema: dict = NO_ARGUMENTS) -> dict:
        return {"name": name, "url": f"{upstream}{path}", "method": "POST", "description": description,
                "input_schema": input_schema}

    return [
        rest("test_simple_text", "/simple-text", "Tests simple text content response"),
        rest("test_error_handling", "/error", "Tests error response handling"),
        # Emits no log messages: the suite checks none arrive when a request names no logLevel.
        rest("test_logging_tool", "/logging-evaluated", "Answers without logging anything"),
        # Each call adds or removes a marker in Forge's catalog, so list_changed reaches listeners.
        rest("test_trigger_tool_change", "/trigger/tools", "Changes the tool list"),
        rest("test_trigger_prompt_change", "/trigger/prompts", "Changes the prompt list"),
        rest("json_schema_2020_12_tool", "/json-schema-2020-12", "Tool with JSON Schema 2020-12 features",
             JSON_SCHEMA_2020_12),
    ]


PROMPTS = [
    {
        "name": "test_simple_prompt",
        "description": "A simple prompt without arguments",
        "template": "This is a simple prompt for testing.",
    },
    {
        "name": "test_prompt_with_arguments",
        "description": "A prompt with required arguments",
        "template": "Prompt with arguments: arg1='{{ arg1 }}', arg2='{{ arg2 }}'",
        "argument_schema": {
            "type": "object",
            "properties": {
                # `examples` are what completion/complete offers for an argument.
                "arg1": {"type": "string", "description": "First test argument", "examples": ["testValue1"]},
                "arg2": {"type": "string", "description": "Second test argument", "examples": ["testValue2"]},
            },
            "required": ["arg1", "arg2"],
        },
    },
]

RESOURCES = [
    {
        "uri": "test://static-text",
        "name": "static-text",
        "description": "A static text resource for testing",
        "mime_type": "text/plain",
        "content": "This is the content of the static text resource.",
    },
    {
        "uri": "test://static-binary",
        "name": "static-binary",
        "description": "A static binary resource (image) for testing",
        "mime_type": "image/png",
        "blob": PNG,
    },
    {
        "uri": "test://template/{id}/data",
        "name": "template",
        "description": "A resource template with parameter substitution",
        "mime_type": "application/json",
        "content": '{"id":"{{ id }}","templateTest":true,"data":"Data for ID: {{ id }}"}',
        "completions": {"id": ["123", "456"]},
    },
    {
        "uri": "test://watched-resource",
        "name": "watched-resource",
        "description": "A resource for testing subscriptions",
        "mime_type": "text/plain",
        "content": "Watched resource content",
    },
]


def register(forge: str, upstream: str) -> int:
    """Create every fixture; answer how many were created (an existing one counts, unchanged)."""
    created = 0
    with httpx.Client(base_url=forge, timeout=10) as client:
        for kind, entities in (("tools", tools(upstream)), ("prompts", PROMPTS), ("resources", RESOURCES)):
            for entity in entities:
                response = client.post(f"/{kind}", json=entity)
                label = entity.get("name") if kind != "resources" else entity["uri"]
                if response.status_code == 409:
                    print(f"  {kind[:-1]} {label}: already registered")
                elif response.status_code != 201:
                    failure = f"HTTP {response.status_code} {response.text}"
                    raise SystemExit(f"could not register {kind[:-1]} {label}: {failure}")
                created += 1
    return created


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit("usage: fixtures.py FORGE_URL UPSTREAM_URL")
    count = register(argv[1].rstrip("/"), argv[2].rstrip("/"))
    print(f"registered {count} conformance fixtures")


if __name__ == "__main__":
    main(sys.argv)
