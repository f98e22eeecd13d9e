"""The store layer: SQLAlchemy models, Alembic migrations and the default repository."""
