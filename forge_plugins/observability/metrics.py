"""Prometheus metrics of one gateway: MCP requests, upstream calls, open sessions, cache reads.

Layer: plugin (observability). The MCP middleware (`observer`) records into it; `/metrics`
(`blueprint`) renders it. Each gateway has a registry of its own, so tests can run many side by
side. With PROMETHEUS_MULTIPROC_DIR set (before Forge starts, one empty folder shared by the
workers of `forge serve`), prometheus-client keeps every value in that folder instead, and
/metrics answers the sum over all workers, whichever worker the scrape reaches.
"""

from __future__ import annotations

import os

from aiocache.plugins import BasePlugin
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

# Seconds: from a cached read answered in memory to a slow upstream near TOOL_TIMEOUT.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REQUEST_LABELS = ("method", "tool", "transport", "outcome")


def multiprocess_mode() -> bool:
    """True when prometheus-client found PROMETHEUS_MULTIPROC_DIR at import and keeps values in files."""
    return values.ValueClass is not values.MutexValue


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "forge_mcp_requests",
            "MCP requests answered, by method, tool (tools/call), transport and outcome.",
            REQUEST_LABELS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "forge_mcp_request_duration_seconds",
            "Time from an MCP request's arrival to its answer.",
            REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream = Histogram(
            "forge_upstream_request_duration_seconds",
            "Time an upstream took to answer an HTTP request made for an MCP request (a tool call).",
            ("integration_type", "tool", "outcome"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sessions = Gauge(
            "forge_mcp_sessions_open",
            "Handshake-era MCP sessions open.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.cache_reads = Counter(
            "forge_cache_reads",
            "Reads of the gateway's cache (resource reads), by result.",
            ("result",),
            registry=self.registry,
        )
        # labels() validates and locks on every call; the children of a label set are kept instead.
        self._request_children: dict[tuple, tuple] = {}
        self._upstream_children: dict[tuple, object] = {}
        self._sessions_seen = -1

    def observe_request(self, labels: tuple[str, str, str, str], seconds: float) -> None:
        children = self._request_children.get(labels)
        if children is None:
            children = self._request_children[labels] = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_upstream(self, labels: tuple[str, str, str], seconds: float) -> None:
        child = self._upstream_children.get(labels)
        if child is None:
            child = self._upstream_children[labels] = self.upstream.labels(*labels)
        child.observe(seconds)

    def count_sessions(self, open_sessions: int) -> None:
        if open_sessions != self._sessions_seen:
            self._sessions_seen = open_sessions
            self.sessions.set(open_sessions)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if multiprocess_mode():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """In multiprocess mode, drop this worker's live gauges (its open sessions end with it)."""
        if multiprocess_mode():
            multiprocess.mark_process_dead(os.getpid())


class CacheReads(BasePlugin):
    """An aiocache plugin counting hits and misses of `get` (aiocache calls it after each read)."""

    def __init__(self, metrics: Metrics):
        self.hits = metrics.cache_reads.labels("hit")
        self.misses = metrics.cache_reads.labels("miss")

    async def post_get(self, client, key, ret=None, **kwargs):
        (self.misses if ret is None else self.hits).inc()
