"""The federation plugin's own knobs (prefix FEDERATION_), read like the kernel's from the environment.

Layer: plugin settings, contributed through `forge_settings_sections`. The kernel's settings hold
the rest: FEDERATION_ENABLED, FEDERATION_PEERS, FEDERATION_TIMEOUT, FEDERATION_SYNC_INTERVAL and
FEDERATION_DISCOVERY (`forge.settings.Settings`).
"""

from __future__ import annotations

import hashlib
import os
import socket
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class FederationSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FEDERATION_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    health_interval: float = Field(30.0, gt=0, description="Seconds between health checks of each upstream.")
    breaker_threshold: int = Field(
        5, ge=1, description="Consecutive failed calls that open an upstream's circuit."
    )
    breaker_reset: float = Field(
        30.0, gt=0, description="Seconds an open circuit waits before letting one call try."
    )
    pin_tools: bool = Field(
        True,
        description="Pin each imported tool's definition when approved; a changed one waits for approval.",
    )
    on_tool_change: Literal["keep", "disable"] = Field(
        "keep",
        description='A pinned tool changed upstream: "keep" serves the approved definition, "disable" withholds the tool.',
    )
    require_approval: bool = Field(
        False, description="Withhold newly imported tools until an administrator approves them."
    )
    leader_lease: float = Field(
        15.0,
        gt=0,
        description="With CACHE_TYPE=redis, seconds one process leads the imports, health checks "
        "and syncs unrenewed (renewed every third of it): how soon another takes over when it dies.",
    )
    instance_id: str = Field(
        "",
        description="This gateway's identity among peers (loop detection); empty: derived from host and database.",
    )


def settings_of(gateway) -> FederationSettings:
    return gateway.plugin_settings.get("FederationSettings") or FederationSettings(_env_file=None)


def instance_id(gateway) -> str:
    """Who this Forge is to its peers: FEDERATION_INSTANCE_ID, else a digest of its database and
    port, stable across restarts, so an entity that travelled through this gateway is recognised
    when a peer offers it back. Processes sharing a remote database (workers, replicas) are one
    instance; a database on this host (SQLite, a local server) adds the host name, so two
    machines with the same local setup are not mistaken for one."""
    configured = settings_of(gateway).instance_id
    if configured:
        return configured
    kernel = gateway.settings
    url = make_url(kernel.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=os.path.abspath(url.database))
    local = url.get_backend_name() == "sqlite" or (url.host or "localhost") in (
        "localhost",
        "127.0.0.1",
        "::1",
    )
    place = url.render_as_string(hide_password=True) + (f"@{socket.gethostname()}" if local else "")
    return hashlib.sha256(f"{place}\0{kernel.port}".encode()).hexdigest()[:16]
