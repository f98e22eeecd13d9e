"""Per-tool call metrics, counted in memory on the hot path and written to the store in batches.

Layer: services. `forge.services.tools` records each call; the gateway flushes every few seconds
and at shutdown, so a tool call never waits for a database write.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

log = logging.getLogger("forge.metrics")

FLUSH_SECONDS = 5.0


class ToolMetrics:
    def __init__(self):
        self._pending: dict[str, dict] = {}

    def record(self, tool_id: str, elapsed_ms: float, failed: bool) -> None:
        counters = self._pending.get(tool_id)
        if counters is None:
            counters = self._pending[tool_id] = {
                "calls": 0, "failures": 0, "total_ms": 0.0, "min_ms": elapsed_ms, "max_ms": elapsed_ms,
            }
        counters["calls"] += 1
        counters["failures"] += failed
        counters["total_ms"] += elapsed_ms
        counters["min_ms"] = min(counters["min_ms"], elapsed_ms)
        counters["max_ms"] = max(counters["max_ms"], elapsed_ms)
        counters["last_called_at"] = datetime.now(UTC)

    def pending(self, tool_id: str) -> dict | None:
        return self._pending.get(tool_id)

    async def flush(self, store) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await store.record_tool_metrics(batch)
        except Exception:
            log.exception("could not write %d tools' metrics; they are dropped", len(batch))

    async def flush_periodically(self, store, every: float = FLUSH_SECONDS) -> None:
        while True:
            await asyncio.sleep(every)
            await self.flush(store)
