"""Settings: every knob Forge reads from the environment or a `.env` file.

Layer: kernel, read by the app factory and the CLI before anything else starts. Plugins add their
own sections through the `forge_settings_sections` hook; those are read the same way.
A bad value stops start-up with one readable line (`SettingsError`), never a traceback.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from forge.forwarded import proxy_network

# The async drivers Forge ships support for; a URL naming a plain dialect gets its driver added.
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


class SettingsError(Exception):
    """A setting has a value Forge cannot start with; the message is one line a user can act on."""


class Settings(BaseSettings):
    """The kernel's settings. Names match ContextForge's so its users' environments carry over."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_name: str = Field("Forge", description="Name shown in serverInfo, the admin UI and logs.")
    host: str = Field("127.0.0.1", description="Address `forge serve` binds to.")
    port: int = Field(4444, ge=1, le=65535, description="Port `forge serve` binds to.")
    workers: int = Field(1, ge=1, le=256, description="Worker processes started by `forge serve`.")
    app_root_path: str = Field("", description="Sub-path prefix when Forge is served behind a proxy, e.g. /gateway.")
    database_url: str = Field(
        "sqlite:///./forge.db", description="SQLAlchemy URL; sqlite:// and postgresql:// get async drivers."
    )
    cache_type: Literal["memory", "redis"] = Field("memory", description="Cache backend.")
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis URL when CACHE_TYPE=redis: the cache, and how workers and replicas share catalog "
        "changes and MCP sessions.",
    )
    redis_prefix: str = Field(
        "forge", min_length=1, description="Prefix of Forge's Redis keys and channel; one per gateway sharing a Redis."
    )
    cache_ttl: int = Field(
        60, ge=0,
        description="Seconds a cached resource read stays fresh: a local resource's rendering, and at most this long an "
        "upstream's read that it marked cacheable (its ttlMs). 0 turns both off.",
    )
    mcp_result_ttl_ms: int = Field(
        0,
        ge=0,
        description="Milliseconds a 2026-07-28 client may reuse a list or resource read answer (its ttlMs); "
        "cacheScope is private unless AUTH_REQUIRED=false.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["json", "text"] = Field("text", description="Log line format.")
    plugins_disabled: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Plugin names not to load, comma separated or a JSON list."
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes.")
    tool_timeout: float = Field(30.0, gt=0, description="Seconds a tool adapter waits for an upstream answer.")
    upstream_max_response_bytes: int = Field(
        16 * 2**20,
        ge=1024,
        description=(
            "Largest answer read from a REST tool's upstream, and largest JSON answer or single SSE message "
            "read from a federated 2026-07-28 HTTP upstream, in bytes; a larger one is an error result."
        ),
    )
    shutdown_grace_seconds: float = Field(
        10.0,
        ge=0,
        description="On SIGTERM, seconds `forge serve` lets calls in flight finish before closing what is left.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the MCP endpoints from a browser; localhost origins always are.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose browser pages may call the API and MCP endpoints "
        "(CORS; they are allowed Origins of the MCP endpoints too). Empty: CORS is off.",
    )
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Loopback, private, link-local or metadata addresses Forge may call anyway (REST tools, "
        "gateways, OpenAPI URLs): addresses, CIDR networks and host names (*.domain), comma separated. "
        "Empty: only public addresses.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies and load balancers whose X-Forwarded-For, X-Forwarded-Proto and "
        "X-Forwarded-Host are believed: addresses and CIDR networks, comma separated. A request from one "
        "counts as coming from the client they name (failed-login throttling, logs) at the URL it reached "
        "(https behind TLS termination). Empty: trust no one, the TCP peer is the client.",
    )

    # Authentication (the auth_basic_jwt plugin reads these).
    basic_auth_user: str = Field("admin", description="User name for HTTP Basic authentication.")
    basic_auth_password: str = Field("changeme", description="Password for HTTP Basic authentication.")
    jwt_secret_key: str = Field("my-test-key", description="Secret that signs and verifies JWTs.")
    jwt_algorithm: str = Field("HS256", description="JWT signing algorithm.")
    token_expiry: int = Field(10080, ge=1, description="Minutes a newly created token stays valid.")
    auth_required: bool = Field(True, description="Refuse requests without valid credentials.")
    auth_encryption_secret: str = Field("my-test-salt", description="Secret that encrypts stored credentials.")
    auth_recheck_seconds: float = Field(  # the kernel's (`forge.mcp.revalidation`), for every auth plugin
        5.0,
        gt=0,
        description="Seconds between checks that the credentials of open MCP connections (WebSocket, SSE, "
        "sessions' streams, listen streams) still hold; revoked or expired ones are closed.",
    )

    # Federation (the federation plugin reads these).
    federation_enabled: bool = Field(True, description="Register upstream MCP servers and peer gateways.")
    federation_discovery: bool = Field(False, description="Discover peers on the local network.")
    federation_peers: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Peer gateways to federate at start.")
    federation_timeout: float = Field(30.0, gt=0, description="Seconds to wait for an upstream.")
    federation_sync_interval: int = Field(300, ge=1, description="Seconds between catalog syncs.")

    @field_validator(
        "plugins_disabled", "allowed_origins", "cors_origins", "federation_peers", "outbound_allow",
        "trusted_proxies", mode="before",
    )
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow(cls, value: list[str]) -> list[str]:
        from forge.outbound import allow_entry  # imports aiohttp: only when the setting is given

        for entry in value:
            allow_entry(entry)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            proxy_network(entry)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
                raise ValueError(f"{origin!r} is not an origin: scheme://host[:port], e.g. https://a.example")
        return value

    @model_validator(mode="after")
    def _cors_origins_may_call(self):
        """A page allowed to read the answers must be allowed to call: CORS_ORIGINS pass the MCP
        endpoints' Origin check too."""
        missing = [origin for origin in self.cors_origins if origin not in self.allowed_origins]
        if missing:
            self.allowed_origins = [*self.allowed_origins, *missing]
        return self

    @field_validator("app_root_path")
    @classmethod
    def _root_path(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL (try sqlite:///./forge.db)") from None
        backend = url.get_backend_name()
        if backend not in ASYNC_DRIVERS:
            raise ValueError(f"database {backend!r} is not supported (use sqlite or postgresql)")
        return value

    @property
    def async_database_url(self) -> str:
        """DATABASE_URL with the async driver SQLAlchemy needs (aiosqlite, asyncpg)."""
        url = make_url(self.database_url)
        if "+" not in url.drivername:
            url = url.set(drivername=ASYNC_DRIVERS[url.get_backend_name()])
        return url.render_as_string(hide_password=False)


def load_settings(settings_class: type[BaseSettings] = Settings, **overrides) -> BaseSettings:
    """Read settings from the environment and `.env`, raising `SettingsError` with one readable line."""
    try:
        return settings_class(**overrides)
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        problems.append(f"{name}: {item['msg']}")
    return "invalid setting " + "; ".join(problems)
