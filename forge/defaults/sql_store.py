"""Default plugin: the SQLAlchemy store on DATABASE_URL, sealing secrets with the gateway's codec
(`forge_secret_codec`; values are stored as given when no plugin provides one)."""

from forge.hookspecs import hookimpl
from forge.store.repository import Store


@hookimpl
def forge_store(gateway):
    return Store(gateway.settings.async_database_url, codec=gateway.secret_codec)
