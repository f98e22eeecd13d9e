"""What a 401 says, and the OAuth protected resource metadata (RFC 9728) MCP clients read.

Layer: plugin. The management API and the UI are challenged with Basic (a browser then asks for
a password); MCP endpoints with `Bearer resource_metadata="<base>/.well-known/oauth-protected-resource"`,
as the MCP authorization spec asks, `<base>` being the gateway's origin and APP_ROOT_PATH.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from forge.contracts import Credentials

REALM = "forge"
METADATA_PATH = "/.well-known/oauth-protected-resource"
BASE_SCOPES = ("admin", "read")
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')


def challenge(gateway, credentials: Credentials, invalid_token: str | None = None) -> str:
    """The WWW-Authenticate value for `credentials`; `invalid_token` says why a bearer token failed."""
    error = f'error="invalid_token", error_description="{_quotable(invalid_token)}"' if invalid_token else ""
    if credentials.resource is None:
        basic = f'Basic realm="{REALM}"'
        return f'{basic}, Bearer realm="{REALM}", {error}' if error else basic
    bearer = f'Bearer resource_metadata="{metadata_url(gateway, credentials.resource)}"'
    return f"{bearer}, {error}" if error else bearer


def metadata_url(gateway, resource: str) -> str:
    """Where the metadata of the MCP endpoint at `resource` is served (reachable through a proxy
    that forwards only APP_ROOT_PATH, unlike the RFC's path-inserted form)."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{gateway.settings.app_root_path}{METADATA_PATH}"


def metadata(base: str, resource_path: str, authorization_servers: list[str], app_name: str) -> dict:
    """RFC 9728 metadata for the gateway (`resource_path` "") or one of its MCP endpoints."""
    scopes = list(BASE_SCOPES)
    server = re.match(r"/servers/([^/]+)/", resource_path)
    if server:
        scopes.insert(0, f"server:{server.group(1)}")
    return {
        "resource": base + resource_path,
        "authorization_servers": authorization_servers,
        "bearer_methods_supported": ["header"],
        "scopes_supported": scopes,
        "resource_name": app_name,
    }


def _quotable(text: str) -> str:
    return _UNQUOTABLE.sub("'", text)[:200]
