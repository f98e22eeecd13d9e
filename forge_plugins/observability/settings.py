"""The observability plugin's settings (OBSERVABILITY_*), read from the environment and `.env`.

OpenTelemetry's own variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER,
OTEL_EXPORTER_OTLP_HEADERS, ...) are read from the process environment only, by `tracing` and by
the OpenTelemetry SDK itself, as every OpenTelemetry program reads them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OBSERVABILITY_", env_file=".env", extra="ignore")

    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    metrics_public: bool = Field(
        False,
        description="/metrics answers without credentials (else it needs the 'read' right, like the API).",
    )
    tracing: bool = Field(
        True,
        description="OpenTelemetry spans per MCP request and upstream call, W3C traceparent in and out. Spans "
        "leave the process only when OTEL_EXPORTER_OTLP_ENDPOINT is set.",
    )
    access_log: bool = Field(
        False,
        description="One log line per MCP request (logger forge.access, level INFO). Off by default: like the "
        "kernel, which logs only failures on the MCP hot path, it costs a log write per call.",
    )
    log_arguments: bool = Field(
        False,
        description="Put tools/call and prompts/get arguments in access log lines (they may hold secrets).",
    )
