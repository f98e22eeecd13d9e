"""Default plugin: the SQLAlchemy store on DATABASE_URL."""

from forge.hookspecs import hookimpl
from forge.store.repository import Store


@hookimpl
def forge_store(gateway):
    return Store(gateway.settings.async_database_url)
