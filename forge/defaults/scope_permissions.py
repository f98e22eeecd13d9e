"""Default plugin: authorization from a principal's scopes.

"admin" may do anything; "read" may read the management API and use every MCP endpoint;
"server:<id>" may use that virtual server's MCP endpoints and nothing else.
"""

from forge.hookspecs import hookimpl


@hookimpl(trylast=True)
def forge_authorize(gateway, principal, action, target):
    scopes = principal.scopes
    if "admin" in scopes:
        return True
    if action == "read" and "read" in scopes:
        return True
    if action == "mcp":
        return "read" in scopes or (target.startswith("server:") and target in scopes)
    return False
