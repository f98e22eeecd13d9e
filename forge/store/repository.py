"""The default entity store: CRUD over the SQLAlchemy models, answering plain dicts.

Layer: store. Above it the management API and the in-memory catalog (`forge.catalog`), below it
SQLAlchemy's async engine. Every write runs in one transaction: it lands whole or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from forge.contracts import SecretCodec, SecretUnreadable
from forge.secrets import PLAINTEXT, SECRET_FIELDS, reseal, seal, unseal
from forge.store import migrations
from forge.store.models import Base, Gateway, Prompt, Resource, RevokedToken, Server, Tool, ToolMetric, utcnow

log = logging.getLogger("forge.store")

MODELS: dict[str, type[Base]] = {
    "tools": Tool,
    "resources": Resource,
    "prompts": Prompt,
    "servers": Server,
    "gateways": Gateway,
}
# What users see as the natural key of each kind, unique in the store.
NATURAL_KEYS = {"tools": "name", "resources": "uri", "prompts": "name", "servers": "name", "gateways": "name"}
MEMBER_KINDS = ("tools", "resources", "prompts")


class StoreError(Exception):
    """A write or read the store refuses: an HTTP status, a short code, a message and optional details."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.details = details


class NotFound(StoreError):
    status = 404
    code = "not_found"


class Conflict(StoreError):
    status = 409
    code = "conflict"


class UnknownReference(StoreError):
    """The payload names entities that do not exist (a virtual server's member ids)."""

    status = 422
    code = "unknown_reference"


def row_to_dict(row: Base) -> dict[str, Any]:
    data = {attr.key: getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs}
    if isinstance(row, Server):
        for kind in MEMBER_KINDS:
            data[f"{kind[:-1]}_ids"] = sorted(member.id for member in getattr(row, kind))
    return data


class UnreadableSecret(StoreError):
    """A stored secret cannot be decrypted with the codec in force (its key changed)."""

    status = 500
    code = "secret_unreadable"


class Store:
    """CRUD for tools, resources, prompts, virtual servers and gateways on one database.

    Secret fields (`forge.secrets.SECRET_FIELDS`) are sealed with `codec` before they are written
    and opened when read: the database holds what `codec.encrypt` made, answers hold plaintext.
    """

    def __init__(self, database_url: str, *, migrate: bool = True, codec: SecretCodec = PLAINTEXT):
        self.database_url = database_url
        self.migrate = migrate
        self.codec = codec
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None

    async def open(self) -> None:
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.database_url.startswith("sqlite"):
            options = {"connect_args": {"timeout": 30}}
        self.engine = create_async_engine(self.database_url, **options)
        if self.database_url.startswith("sqlite"):
            migrations.enable_sqlite_foreign_keys(self.engine)
        if self.migrate:
            await migrations.upgrade(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    async def ping(self) -> None:
        """Raise when the database cannot be reached (what /ready reports)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    # --- reads ---------------------------------------------------------------------------------

    async def list(
        self,
        kind: str,
        *,
        offset: int = 0,
        limit: int = 50,
        filters: Mapping[str, Any] | None = None,
        search: str | None = None,
    ) -> tuple[list[dict], int]:
        """One page of `kind`, ordered by natural key, and the total count matching the filters."""
        model = MODELS[kind]
        key = getattr(model, NATURAL_KEYS[kind])
        query = select(model)
        for name, value in (filters or {}).items():
            query = query.where(getattr(model, name) == value)
        if search:
            query = query.where(func.lower(key).contains(search.lower(), autoescape=True))
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(query.order_by(key).offset(offset).limit(limit))
            return [self._record(kind, row) for row in rows], total

    async def get(self, kind: str, entity_id: str) -> dict:
        async with self.sessions() as session:
            return self._record(kind, await self._get_row(session, kind, entity_id))

    def _record(self, kind: str, row: Base) -> dict:
        """A row as a plain dict, its secrets decrypted."""
        try:
            return unseal(kind, row_to_dict(row), self.codec)
        except SecretUnreadable as error:
            raise UnreadableSecret(f"{kind[:-1]} {getattr(row, NATURAL_KEYS[kind])!r}: {error}") from None

    async def _get_row(self, session: AsyncSession, kind: str, entity_id: str) -> Base:
        row = await session.get(MODELS[kind], entity_id)
        if row is None:
            raise NotFound(f"{kind[:-1]} {entity_id!r} not found")
        return row

    async def snapshot(self) -> dict[str, list[dict]]:
        """Every entity of every kind: what the in-memory catalog is built from."""
        async with self.sessions() as session:
            return {
                kind: [self._record(kind, row) for row in await session.scalars(select(model))]
                for kind, model in MODELS.items()
            }

    # --- writes --------------------------------------------------------------------------------

    async def create(self, kind: str, data: Mapping[str, Any]) -> dict:
        values = dict(data)
        members = {k: values.pop(f"{k[:-1]}_ids", None) for k in MEMBER_KINDS}
        async with self.sessions() as session, session.begin():
            await self._check_unique(session, kind, values)
            row = MODELS[kind](**seal(kind, values, self.codec))
            if kind == "servers":
                await self._set_members(session, row, members)
            session.add(row)
            await self._flush(session, kind, values)
        return await self.get(kind, row.id)

    async def update(self, kind: str, entity_id: str, changes: Mapping[str, Any]) -> dict:
        values = dict(changes)
        members = {k: values.pop(f"{k[:-1]}_ids", None) for k in MEMBER_KINDS}
        async with self.sessions() as session, session.begin():
            row = await self._get_row(session, kind, entity_id)
            await self._check_unique(session, kind, values, exclude_id=entity_id)
            for name, value in seal(kind, values, self.codec).items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            if kind == "servers":
                await self._set_members(session, row, members)
            await self._flush(session, kind, values)
        return await self.get(kind, entity_id)

    async def delete(self, kind: str, entity_id: str, *, force: bool = False) -> None:
        """Delete one entity. A tool, resource or prompt that a virtual server holds is refused
        with `Conflict` naming the servers, unless `force`, which also takes it out of them."""
        async with self.sessions() as session, session.begin():
            row = await self._get_row(session, kind, entity_id)
            if kind in MEMBER_KINDS and not force:
                holders = await self._servers_holding(session, kind, entity_id)
                if holders:
                    label = getattr(row, NATURAL_KEYS[kind])
                    raise Conflict(
                        f"{kind[:-1]} {label!r} belongs to virtual server(s) {', '.join(map(repr, holders))}; "
                        "remove it from them first or delete with ?force=true",
                        {"servers": holders},
                    )
            await session.delete(row)

    async def _servers_holding(self, session: AsyncSession, kind: str, entity_id: str) -> list[str]:
        table = Base.metadata.tables[f"server_{kind}"]
        column = table.c[f"{kind[:-1]}_id"]
        query = select(Server.name).join(table, table.c.server_id == Server.id).where(column == entity_id)
        return sorted(await session.scalars(query))

    async def _check_unique(self, session: AsyncSession, kind: str, values: Mapping, exclude_id=None) -> None:
        key = NATURAL_KEYS[kind]
        if key not in values:
            return
        model = MODELS[kind]
        query = select(model.id).where(getattr(model, key) == values[key])
        if exclude_id:
            query = query.where(model.id != exclude_id)
        if await session.scalar(query):
            raise Conflict(f"a {kind[:-1]} with {key} {values[key]!r} already exists")

    async def _flush(self, session: AsyncSession, kind: str, values: Mapping) -> None:
        # Two writers can pass _check_unique together; the unique index settles it.
        try:
            await session.flush()
        except IntegrityError:
            key = NATURAL_KEYS[kind]
            raise Conflict(f"a {kind[:-1]} with {key} {values.get(key)!r} already exists") from None

    async def _set_members(self, session: AsyncSession, server: Server, members: Mapping[str, Any]) -> None:
        for kind, ids in members.items():
            if ids is None:
                continue
            model = MODELS[kind]
            found = list(await session.scalars(select(model).where(model.id.in_(ids)))) if ids else []
            missing = sorted(set(ids) - {row.id for row in found})
            if missing:
                field = f"{kind[:-1]}_ids"
                raise UnknownReference(f"{field} names unknown {kind}: {', '.join(missing)}", {field: missing})
            setattr(server, kind, found)

    # --- metrics -------------------------------------------------------------------------------

    async def record_tool_metrics(self, batch: Mapping[str, Mapping[str, Any]]) -> None:
        """Add a batch of per-tool counters {tool_id: {calls, failures, total_ms, min_ms, max_ms}}."""
        async with self.sessions() as session, session.begin():
            existing_tools = set(await session.scalars(select(Tool.id).where(Tool.id.in_(list(batch)))))
            for tool_id, counters in batch.items():
                if tool_id not in existing_tools:
                    continue  # deleted since the call
                metric = await session.get(ToolMetric, tool_id)
                if metric is None:
                    metric = ToolMetric(tool_id=tool_id, calls=0, failures=0, total_ms=0.0)
                    session.add(metric)
                metric.calls += counters["calls"]
                metric.failures += counters["failures"]
                metric.total_ms += counters["total_ms"]
                metric.min_ms = min(v for v in (metric.min_ms, counters["min_ms"]) if v is not None)
                metric.max_ms = max(v for v in (metric.max_ms, counters["max_ms"]) if v is not None)
                metric.last_called_at = counters["last_called_at"]

    # --- secrets -------------------------------------------------------------------------------

    async def reseal_secrets(self, old: SecretCodec, new: SecretCodec) -> int:
        """Decrypt every stored secret with `old` and encrypt it with `new`, in one transaction
        (`forge secrets rotate`); answers how many values were rewritten. A value `old` cannot
        read raises `UnreadableSecret` and changes nothing."""
        count = 0
        async with self.sessions() as session, session.begin():
            for kind, fields in SECRET_FIELDS.items():
                for row in await session.scalars(select(MODELS[kind])):
                    try:
                        fresh = reseal(kind, row_to_dict(row), old, new)
                    except SecretUnreadable as error:
                        label = getattr(row, NATURAL_KEYS[kind])
                        raise UnreadableSecret(f"{kind[:-1]} {label!r}: {error}") from None
                    for field in fields:
                        setattr(row, field, fresh[field])
                        count += len(fresh[field] or {})
        return count

    # --- revoked tokens ------------------------------------------------------------------------

    async def revoke_token(self, jti: str, *, revoked_by: str | None = None, reason: str | None = None) -> dict:
        """Add `jti` to the revoked tokens; revoking it again answers the first record unchanged."""
        try:
            async with self.sessions() as session, session.begin():
                row = await session.get(RevokedToken, jti)
                if row is None:
                    row = RevokedToken(jti=jti, revoked_at=utcnow(), revoked_by=revoked_by, reason=reason)
                    session.add(row)
                    await session.flush()
                return row_to_dict(row)
        except IntegrityError:  # revoked by someone else in between
            async with self.sessions() as session:
                return row_to_dict(await session.get(RevokedToken, jti))

    async def revoked_tokens(self) -> list[dict]:
        """Every revoked token, most recent first."""
        async with self.sessions() as session:
            query = select(RevokedToken).order_by(RevokedToken.revoked_at.desc(), RevokedToken.jti)
            return [row_to_dict(row) for row in await session.scalars(query)]

    async def tool_metrics(self, tool_id: str | None = None) -> list[dict]:
        async with self.sessions() as session:
            query = select(ToolMetric)
            if tool_id:
                query = query.where(ToolMetric.tool_id == tool_id)
            return [row_to_dict(row) for row in await session.scalars(query)]
