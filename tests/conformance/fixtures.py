"""Puts Forge in front of the conformance fixture server: one gateway, registered through Forge's
management API with the prefix "" so the suite finds every fixture under its own name.

Part of the conformance harness (`.ci/conformance` runs it against a fresh gateway, with
`everything_server.py` serving streamable HTTP). Every tool, prompt, resource and completion the
suite calls is the upstream's, served through the federation plugin; nothing is stored by hand.

    python tests/conformance/fixtures.py FORGE_URL UPSTREAM_MCP_URL
"""

from __future__ import annotations

import sys

import httpx

# What the suite calls by name in either era; all must be listed by Forge before it runs.
EXPECTED_TOOLS = {
    "test_simple_text", "test_image_content", "test_audio_content", "test_embedded_resource",
    "test_multiple_content_types", "test_tool_with_logging", "test_tool_with_progress", "test_error_handling",
    "test_sampling", "test_elicitation", "test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums",
    "test_reconnection", "json_schema_2020_12_tool", "test_missing_capability", "test_streaming_elicitation",
    "test_logging_tool", "test_trigger_tool_change", "test_trigger_prompt_change",
    "test_input_required_result_elicitation", "test_input_required_result_multi_round",
}  # fmt: skip
EXPECTED_PROMPTS = {"test_simple_prompt", "test_prompt_with_arguments", "test_input_required_result_prompt"}
EXPECTED_RESOURCES = {"test://static-text", "test://static-binary", "test://watched-resource"}


def listed(client: httpx.Client, method: str, key: str, field: str) -> set[str]:
    answer = client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method}).json()
    return {item[field] for item in answer["result"][key]}


def register(forge: str, upstream: str) -> dict:
    """Register the fixture server as gateway "everything" (prefix ""); answer the gateway as Forge
    records it once the first import is done."""
    with httpx.Client(base_url=forge, timeout=60) as client:
        payload = {
            "name": "everything",
            "url": upstream,
            "prefix": "",
            "description": "The conformance suite's fixtures (tests/conformance/everything_server.py)",
        }
        response = client.post("/gateways", json=payload)
        if response.status_code != 201:
            raise SystemExit(f"could not register the fixture server: HTTP {response.status_code} {response.text}")
        gateway = response.json()
        if gateway["state"] != "healthy" or gateway["last_error"]:
            raise SystemExit(f"Forge could not import the fixture server: {gateway['state']}: {gateway['last_error']}")
        missing = (
            sorted(EXPECTED_TOOLS - listed(client, "tools/list", "tools", "name"))
            + sorted(EXPECTED_PROMPTS - listed(client, "prompts/list", "prompts", "name"))
            + sorted(EXPECTED_RESOURCES - listed(client, "resources/list", "resources", "uri"))
        )
        if missing:
            raise SystemExit(f"Forge does not list these fixtures: {', '.join(missing)}")
        return gateway


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit("usage: fixtures.py FORGE_URL UPSTREAM_MCP_URL")
    gateway = register(argv[1].rstrip("/"), argv[2])
    info = gateway["capabilities"].get("serverInfo") or {}
    print(
        f"Forge fronts {info.get('name')} {info.get('version')} at {gateway['url']} "
        f"({gateway['capabilities'].get('protocolVersion')}, {gateway['latency_ms']} ms)"
    )


if __name__ == "__main__":
    main(sys.argv)
