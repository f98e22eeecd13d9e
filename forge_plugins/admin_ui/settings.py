"""The admin UI's own settings (prefix ADMIN_UI_), read like the kernel's from the environment and `.env`.

Layer: plugin settings, contributed through `forge_settings_sections`; the views read them from
`gateway.plugin_settings["AdminUiSettings"]`.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AdminUiSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ADMIN_UI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    session_secret: str = Field(
        "", description="Signs the UI's session cookie and CSRF tokens; empty: derived from JWT_SECRET_KEY."
    )
    session_minutes: int = Field(480, ge=1, le=60 * 24 * 30, description="Minutes a login to the UI lasts.")
    page_size: int = Field(50, ge=5, le=500, description="Rows per page in the UI's lists.")


def settings_of(gateway) -> AdminUiSettings:
    return gateway.plugin_settings.get("AdminUiSettings") or AdminUiSettings(_env_file=None)


def session_secret(gateway) -> bytes:
    """The key that signs sessions. Derived from JWT_SECRET_KEY and the Basic password unless set,
    so changing the password ends every UI session."""
    configured = settings_of(gateway).session_secret
    if configured:
        return configured.encode()
    kernel = gateway.settings
    material = f"forge-admin-ui\0{kernel.basic_auth_password}".encode()
    return hmac.new(kernel.jwt_secret_key.encode(), material, hashlib.sha256).digest()
