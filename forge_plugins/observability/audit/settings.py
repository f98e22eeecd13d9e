"""The audit plugin's settings (AUDIT_*), read from the environment and `.env`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuditSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", env_file=".env", extra="ignore")

    tool_calls: bool = Field(
        False,
        description="Also record who called which tool over MCP, and the outcome (never the arguments).",
    )
    retention_days: int = Field(
        90, ge=0, description="Days an entry is kept; 0 keeps them forever. Pruned hourly."
    )
    flush_seconds: float = Field(
        2.0, gt=0, le=3600, description="Seconds between writes of buffered tool-call entries."
    )
    buffer_limit: int = Field(
        10_000,
        ge=100,
        description="Tool-call entries held in memory at most; past it the oldest are dropped (logged).",
    )
