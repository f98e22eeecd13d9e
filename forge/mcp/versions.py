"""Protocol versions Forge speaks, and the `_meta` keys of the stateless revision.

Layer: protocol.
"""

HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")  # newest first
MODERN_VERSIONS = ("2026-07-28",)
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[0]
# Assumed for a handshake-era HTTP request that names no version (the specification's rule).
DEFAULT_HTTP_VERSION = "2025-03-26"

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def is_modern(version: str | None) -> bool:
    """True for a version that is not of the handshake era (unknown future ones included)."""
    return version is not None and version not in HANDSHAKE_VERSIONS


def negotiate(requested: object) -> str:
    """The handshake-era version to answer `initialize` with: the client's if known, else our latest."""
    return requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE
