"""Alembic migrations, run on start-up (and by `forge db upgrade`) on the store's own connection.

Layer: store. The migration scripts live in `versions/`; `env.py` is Alembic's entry point and
only ever runs on the connection handed to it here, so no second engine is made.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).parent


def alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database's schema up to `revision` in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


def enable_sqlite_foreign_keys(engine: AsyncEngine) -> None:
    # SQLite leaves foreign keys (and so ON DELETE CASCADE) off unless each connection asks.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
