"""forge-guardrail: an example third-party Forge plugin that masks e-mail addresses and card
numbers in every tool result before it reaches the MCP client.

One hook does it: `forge_after_tool_call` sees each CallToolResult after the tool's adapter ran
(REST, federated MCP, any other) and answers a redacted copy, or None to keep the result as it is.
Forge finds this module through the `forge.plugins` entry point in pyproject.toml.
"""

from __future__ import annotations

from forge.hookspecs import hookimpl
from forge_guardrail.redact import redact_result


@hookimpl
def forge_after_tool_call(gateway, call, result):
    return redact_result(result)
