"""Alembic's entry point: runs migrations on the connection `forge.store.migrations` hands over."""

from alembic import context

from forge.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Forge's migrations with `forge db upgrade`, which supplies the connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
