"""Services: what the MCP engine and the management API do with the catalog — invoke tools,
render prompts, read resources, complete arguments. No HTTP and no JSON-RPC here."""
