"""Logging: one line per event, text or JSON, every management request tagged with a request id.

Layer: kernel. `forge serve` configures it from settings; the app factory adds request ids to
the Quart app (the MCP hot path logs only failures, to stay lean).
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import sys

import orjson

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("forge_request_id", default="-")


class JsonFormatter(logging.Formatter):
    """One JSON object a line. A record logged with `extra={"fields": {...}}` adds those keys (an
    access log's method, latency, trace id), never replacing the ones every line has."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in (getattr(record, "fields", None) or {}).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def install_request_ids(app) -> None:
    """Take X-Request-ID from the caller (or make one), log with it, and echo it back."""
    from quart import request

    @app.before_request
    async def _take_request_id():
        incoming = request.headers.get("x-request-id", "")
        request_id.set(incoming[:64] if incoming.isprintable() and incoming else secrets.token_hex(8))

    @app.after_request
    async def _echo_request_id(response):
        response.headers["X-Request-ID"] = request_id.get()
        return response
