"""The limits plugin's settings, read from the environment and `.env` like the kernel's.

Their names carry no prefix of their own: they sit beside the kernel's MAX_BODY_BYTES and
TOOL_TIMEOUT, and RATE_LIMIT_* is what operators of other gateways already write.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class LimitsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    rate_limit_per_principal: str = Field(
        "",
        description="MCP requests and management API requests one principal may make, e.g. '600/minute' or "
        "'20/second;600/minute'; empty: no limit.",
    )
    rate_limit_per_tool: str = Field(
        "", description="tools/call of one tool, all principals together, e.g. '100/second'; empty: no limit."
    )
    rate_limit_tools: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Per-tool overrides of RATE_LIMIT_PER_TOOL, a JSON object: {\"search\": \"5/second\"}; "
        "an empty value exempts that tool.",
    )
    rate_limit_storage_url: str = Field(
        "",
        description="Where counters live: memory://, redis://host:port/db (or the limits library's async+... "
        "URLs). Empty: REDIS_URL when CACHE_TYPE=redis (shared by workers and replicas), else memory.",
    )
    rate_limit_strategy: Literal["moving-window", "fixed-window", "sliding-window-counter"] = Field(
        "moving-window", description="The limits library's strategy."
    )
    upstream_max_concurrent: int = Field(
        128, ge=0, description="Calls in flight to one upstream (a REST host, a federated gateway); 0: no cap."
    )
    upstream_queue_seconds: float = Field(
        5.0, ge=0, description="How long a call waits for a free slot at a busy upstream before it fails."
    )
    max_json_depth: int = Field(
        64,
        ge=1,
        le=512,
        description="Deepest nesting of objects and arrays in an MCP message or API body (the JSON parser "
        "itself stops at 1024).",
    )
    max_string_chars: int = Field(
        1_048_576, ge=0, description="Longest string (or object key) in an MCP message or API body; 0: no limit."
    )

    @field_validator("rate_limit_per_principal", "rate_limit_per_tool")
    @classmethod
    def _limit(cls, value: str) -> str:
        value = value.strip()
        if value:
            check(value)
        return value

    @field_validator("rate_limit_tools", mode="before")
    @classmethod
    def _overrides(cls, value):
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object of tool name to limit")
        for limit in value.values():
            if limit:
                check(limit)
        return value


def check(value: str) -> None:
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a rate limit (write e.g. '600/minute' or '10/second;600/hour')") from None
