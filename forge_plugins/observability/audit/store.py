"""The audit trail's table, and the writes, reads and pruning of it.

Layer: plugin (audit), over SQLAlchemy. The table `audit_entries` lives in the catalog's database
(the default store's engine is shared; another store gets an engine of its own on DATABASE_URL),
but belongs to this plugin: it is created at start-up when missing, outside the kernel's Alembic
migrations, so the kernel's schema does not change with the plugin installed or not.

Management writes are inserted as they happen (one row per API write, not a hot path). Tool calls,
when recorded, are buffered in memory and inserted in batches every AUDIT_FLUSH_SECONDS (sooner
when a batch fills up) and at shutdown, so a tool call never waits for the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from forge.store.models import UtcDateTime, utcnow
from forge_plugins.observability.audit.settings import AuditSettings

log = logging.getLogger("forge.audit")

PRUNE_SECONDS = 3600.0
BATCH_ROWS = 500  # a buffer this full is written without waiting for the interval

metadata = MetaData()
entries = Table(
    "audit_entries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("principal", String(255), nullable=False, index=True),
    Column("action", String(16), nullable=False),  # create, update, delete, enable, disable, call
    Column("kind", String(32), nullable=False, index=True),  # tools, resources, prompts, servers, gateways
    Column("entity_id", String(64)),
    Column("entity_name", String(1024)),
    Column("outcome", String(32), nullable=False),  # ok for writes; ok, error, tool_error for calls
    Column("request_id", String(64)),
    Column("trace_id", String(32)),
    # none_as_null: SQL NULL, not the JSON text "null" (which would cost a JSON encoding per row).
    Column("before", JSON(none_as_null=True)),
    Column("after", JSON(none_as_null=True)),
    Column("details", JSON(none_as_null=True)),
)
FILTERS = ("kind", "principal", "action", "entity_id")


class AuditLog:
    def __init__(self, settings: AuditSettings):
        self.settings = settings
        self.engine: AsyncEngine | None = None
        self._own_engine = False
        self._pending: deque[dict] = deque()
        self._dropped = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def open(self, store, database_url: str) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, AsyncEngine):
            engine, self._own_engine = create_async_engine(database_url), True
        self.engine = engine
        await self._create_table()
        self._tasks.append(asyncio.create_task(self._flush_periodically()))
        if self.settings.retention_days:
            self._tasks.append(asyncio.create_task(self._prune_periodically()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.flush()
        if self._own_engine and self.engine is not None:
            await self.engine.dispose()

    async def _create_table(self) -> None:
        try:
            async with self.engine.begin() as connection:
                await connection.run_sync(metadata.create_all, checkfirst=True)
        except SQLAlchemyError:
            # Workers starting together race to create it; losing that race is fine.
            async with self.engine.connect() as connection:
                if not await connection.run_sync(lambda sync: inspect(sync).has_table(entries.name)):
                    raise

    # --- writing ----------------------------------------------------------------------------------

    async def record(self, entry: Mapping[str, Any]) -> None:
        """Insert one entry now (a management write)."""
        async with self.engine.begin() as connection:
            await connection.execute(entries.insert(), [dict(entry)])

    def enqueue(self, entry: dict) -> None:
        """Buffer one entry (a tool call) for the next batch; never waits."""
        if len(self._pending) >= self.settings.buffer_limit:
            self._pending.popleft()
            self._dropped += 1
        self._pending.append(entry)
        if len(self._pending) >= BATCH_ROWS:
            self._wake.set()

    async def flush(self) -> None:
        if self._dropped:
            log.warning(
                "%d audit entries of tool calls were dropped: the database did not keep up", self._dropped
            )
            self._dropped = 0
        if not self._pending or self.engine is None:
            return
        batch = list(self._pending)
        self._pending.clear()
        try:
            async with self.engine.begin() as connection:
                await connection.execute(entries.insert(), batch)
        except SQLAlchemyError:
            log.exception("could not write %d audit entries of tool calls; they are lost", len(batch))

    async def _flush_periodically(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.flush_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    # --- retention --------------------------------------------------------------------------------

    async def prune(self, now: datetime | None = None) -> int:
        """Delete entries older than AUDIT_RETENTION_DAYS; answers how many went."""
        if not self.settings.retention_days:
            return 0
        cutoff = (now or utcnow()) - timedelta(days=self.settings.retention_days)
        async with self.engine.begin() as connection:
            result = await connection.execute(entries.delete().where(entries.c.at < cutoff))
        return result.rowcount or 0

    async def _prune_periodically(self) -> None:
        while True:
            try:
                pruned = await self.prune()
                if pruned:
                    log.info(
                        "audit: %d entries older than %d days pruned", pruned, self.settings.retention_days
                    )
            except SQLAlchemyError:
                log.exception("audit: pruning failed; retried in an hour")
            await asyncio.sleep(PRUNE_SECONDS)

    # --- reading ----------------------------------------------------------------------------------

    async def page(
        self,
        filters: Mapping[str, Any],
        since: datetime | None,
        until: datetime | None,
        offset: int,
        limit: int,
    ) -> tuple[list[dict], int]:
        """Entries matching `filters` (exact values) in [since, until), newest first, and their count."""
        query = select(entries)
        for name in FILTERS:
            if filters.get(name) is not None:
                query = query.where(entries.c[name] == filters[name])
        if since is not None:
            query = query.where(entries.c.at >= since)
        if until is not None:
            query = query.where(entries.c.at < until)
        async with self.engine.connect() as connection:
            total = await connection.scalar(select(func.count()).select_from(query.subquery()))
            rows = await connection.execute(query.order_by(entries.c.id.desc()).offset(offset).limit(limit))
            return [dict(row._mapping) for row in rows], total
