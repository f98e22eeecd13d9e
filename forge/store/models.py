"""SQLAlchemy models: the catalog Forge keeps in its database.

Layer: store, below `forge.store.repository` (which turns rows into plain dicts) and above the
database. Schema changes go through Alembic (`forge/store/migrations`); never `create_all`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """A timezone-aware timestamp, always answered in UTC.

    SQLite has no time zones: it stores the wall-clock text and reads it back naive, so values are
    converted to UTC before they are written and marked UTC when they are read. PostgreSQL's
    `timestamptz` keeps the instant and answers in the session's zone, normalised here to UTC.
    The column type in migrations stays `DateTime(timezone=True)`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Forge stores aware datetimes only (see utcnow)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UtcDateTime}


class Timestamped:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow, nullable=False)


def _membership(kind: str) -> Table:
    return Table(
        f"server_{kind}s",
        Base.metadata,
        Column("server_id", ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True),
        Column(f"{kind}_id", ForeignKey(f"{kind}s.id", ondelete="CASCADE"), primary_key=True),
    )


server_tools = _membership("tool")
server_resources = _membership("resource")
server_prompts = _membership("prompt")


class Gateway(Timestamped, Base):
    """An upstream MCP server or peer Forge gateway whose catalog is federated."""

    __tablename__ = "gateways"
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    transport: Mapped[str] = mapped_column(String(32), default="streamable_http", nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    capabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(32), default="unknown", nullable=False)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # How imported names are prefixed: None uses the gateway's name ("<name>.<tool>"), "" none.
    prefix: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)


class Tool(Timestamped, Base):
    """A tool: a REST endpoint wrapped as MCP, or one federated from a gateway."""

    __tablename__ = "tools"
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    integration_type: Mapped[str] = mapped_column(String(32), default="REST", nullable=False)
    url: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(10), default="POST", nullable=False)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    input_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timeout: Mapped[float | None] = mapped_column(Float)
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    # For an imported tool: its name upstream, and its definition there, served verbatim.
    original_name: Mapped[str | None] = mapped_column(String(255))
    definition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Definition pinning of an imported tool (the federation plugin's `pinning` module): "approved",
    # "changed", "new" or "rejected", and the hashes, pending definition and diff behind it.
    pin_status: Mapped[str | None] = mapped_column(String(16), index=True)
    pinning: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Resource(Timestamped, Base):
    """A resource: static content stored here, or a URI template whose reads are rendered."""

    __tablename__ = "resources"
    uri: Mapped[str] = mapped_column(String(1024), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    mime_type: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str | None] = mapped_column(Text)
    blob: Mapped[str | None] = mapped_column(Text)  # base64, as MCP carries it
    is_template: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Values offered by completion/complete for each template variable: {"id": ["1", "2"]}.
    completions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    definition: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Prompt(Timestamped, Base):
    """A prompt: a Jinja template rendered in a sandbox with arguments checked against a schema."""

    __tablename__ = "prompts"
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str] = mapped_column(Text, nullable=False)
    argument_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    original_name: Mapped[str | None] = mapped_column(String(255))
    definition: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Server(Timestamped, Base):
    """A virtual server: a named bundle of tools, resources and prompts with its own MCP endpoint."""

    __tablename__ = "servers"
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    icon: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[list[Tool]] = relationship(secondary=server_tools, lazy="selectin")
    resources: Mapped[list[Resource]] = relationship(secondary=server_resources, lazy="selectin")
    prompts: Mapped[list[Prompt]] = relationship(secondary=server_prompts, lazy="selectin")


class RevokedToken(Base):
    """A bearer token refused before it expires, named by its `jti` claim (the auth plugin's list)."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, nullable=False)
    revoked_by: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)


class ToolMetric(Base):
    """Per-tool call counters, flushed from memory in batches (never written per call)."""

    __tablename__ = "tool_metrics"
    tool_id: Mapped[str] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    min_ms: Mapped[float | None] = mapped_column(Float)
    max_ms: Mapped[float | None] = mapped_column(Float)
    last_called_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
