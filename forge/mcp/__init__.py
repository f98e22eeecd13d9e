"""The MCP engine: JSON-RPC messages in, JSON-RPC messages out, for both protocol eras.

Layer: protocol. Transports (Streamable HTTP, SSE, WebSocket, stdio, in-memory) hand messages and
a `RequestContext` to `McpEngine.handle`; the engine asks the services layer for tools, prompts
and resources. Nothing here imports Quart, Hypercorn or an HTTP client.
"""
