"""Default plugin: the management REST API (entities, health, version, /protocol/*)."""

from forge.api.crud import entity_blueprint
from forge.api.entities import ENTITY_APIS
from forge.api.system import blueprint as system_blueprint
from forge.hookspecs import hookimpl


@hookimpl
def forge_blueprints(gateway):
    return [system_blueprint, *(entity_blueprint(api) for api in ENTITY_APIS)]
