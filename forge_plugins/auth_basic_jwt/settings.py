"""The auth plugin's own settings, read like the kernel's from the environment and `.env`.

Layer: plugin settings, contributed through `forge_settings_sections` and kept in
`gateway.plugin_settings["AuthSettings"]`. The kernel's section already holds the settings
ContextForge users know (BASIC_AUTH_USER, BASIC_AUTH_PASSWORD, JWT_SECRET_KEY, JWT_ALGORITHM,
TOKEN_EXPIRY, AUTH_REQUIRED, AUTH_ENCRYPTION_SECRET); these are the plugin's additions, under
their own full names (no prefix).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    jwt_public_key_file: Path | None = Field(
        None, description="PEM public key that verifies tokens when JWT_ALGORITHM is RS*, PS*, ES* or EdDSA."
    )
    jwt_private_key_file: Path | None = Field(
        None, description="PEM private key `forge token` signs with when JWT_ALGORITHM is asymmetric."
    )
    jwt_audience: str | None = Field(
        None, description="Required `aud` claim; tokens made by `forge token` carry it."
    )
    jwt_issuer: str | None = Field(
        None, description="Required `iss` claim; tokens made by `forge token` carry it."
    )
    jwt_leeway_seconds: int = Field(
        0, ge=0, le=300, description="Clock skew allowed when checking exp, nbf, iat."
    )
    auth_authorization_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="OAuth authorization servers named in /.well-known/oauth-protected-resource.",
    )
    auth_max_failures: int = Field(
        10, ge=0, description="Failed logins a client address may make per AUTH_FAILURE_WINDOW; 0: no limit."
    )
    auth_failure_window: float = Field(
        60.0, gt=0, description="Seconds over which failed logins are counted."
    )
    auth_revocation_refresh: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds between re-reads of the revoked-token list: how other workers' revocations "
            "arrive without CACHE_TYPE=redis (with it they arrive at once; this is the safety net)."
        ),
    )

    @field_validator("auth_authorization_servers", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


def settings_of(gateway) -> AuthSettings:
    return gateway.plugin_settings.get("AuthSettings") or AuthSettings(_env_file=None)
