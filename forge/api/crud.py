"""One blueprint shape for every entity kind: list, create, read, update, delete, enable, disable.

Layer: api, over the store (`gateway.store`). Each successful write is applied to the in-memory
catalog (patched, not rebuilt), which announces list_changed to MCP clients. Authorization: reads
need "read", writes need "write", declared with `requires` so the guard (`forge.api.guard`)
checks them first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, current_app, g
from quart_schema import operation_id, tag, validate_querystring, validate_request, validate_response

from forge.api.bodies import require_json_object
from forge.api.guard import requires
from forge.api.schemas import DeleteQuery, ErrorBody, ListQuery


@dataclass(frozen=True)
class EntityApi:
    """How one kind is exposed: its models and how a validated payload becomes store values."""

    kind: str
    create_model: type
    update_model: type
    out_model: type
    page_model: type
    to_values: Callable[[Any, dict], dict]
    after_write: Callable | None = None  # async (gateway, before, after) after a successful write


def _gateway():
    return current_app.config["FORGE_GATEWAY"]


def entity_blueprint(api: EntityApi) -> Blueprint:
    kind, one = api.kind, api.kind[:-1]
    blueprint = Blueprint(kind, __name__, url_prefix=f"/{kind}")
    blueprint.before_request(require_json_object)
    tagged = tag([kind])
    not_found = validate_response(ErrorBody, 404)
    rejected = validate_response(ErrorBody, 422)
    # quart-schema prefixes operationIds with the method: get_tools, post_tool, get_tool, put_tool...
    listing, single = operation_id(kind), operation_id(one)

    async def written(before: dict | None, after: dict | None):
        """Announce a committed write; answer the entity as it is once plugins have reacted (the
        federation plugin records a new gateway's connection state before the POST is answered)."""
        gateway = _gateway()
        await gateway.apply_catalog_changes([(kind, (after or before)["id"], after)])
        if api.after_write is not None:
            await api.after_write(gateway, before, after)
        await gateway.entity_written(kind, before, after, g.principal)
        return None if after is None else await gateway.store.get(kind, after["id"])

    @blueprint.get("")
    @tagged
    @listing
    @validate_querystring(ListQuery)
    @validate_response(api.page_model)
    @requires("read", kind)
    async def list_entities(query_args: ListQuery):
        filters = {name: getattr(query_args, name) for name in ("enabled", "gateway_id")}
        filters = {name: value for name, value in filters.items() if value is not None}
        if kind in ("servers", "gateways"):  # they belong to no gateway: the filter does not apply
            filters.pop("gateway_id", None)
        items, total = await _gateway().store.list(
            kind, offset=query_args.offset, limit=query_args.limit, filters=filters, search=query_args.search
        )
        return {"items": items, "total": total, "offset": query_args.offset, "limit": query_args.limit}

    @blueprint.post("")
    @tagged
    @single
    @validate_request(api.create_model)
    @validate_response(api.out_model, 201)
    @validate_response(ErrorBody, 409)
    @rejected
    @requires("write", kind)
    async def create_entity(data):
        created = await _gateway().store.create(kind, api.to_values(data, {}))
        return await written(None, created), 201

    @blueprint.get("/<entity_id>")
    @tagged
    @single
    @validate_response(api.out_model)
    @not_found
    @requires("read", kind)
    async def get_entity(entity_id: str):
        return await _gateway().store.get(kind, entity_id)

    async def update(entity_id: str, data):
        store = _gateway().store
        before = await store.get(kind, entity_id)
        after = await store.update(kind, entity_id, api.to_values(data, before))
        return await written(before, after)

    @blueprint.put("/<entity_id>")
    @tagged
    @single
    @validate_request(api.update_model)
    @validate_response(api.out_model)
    @validate_response(ErrorBody, 409)
    @rejected
    @not_found
    @requires("write", kind)
    async def put_entity(entity_id: str, data):
        """Update the fields given; the others keep their values (ContextForge's PUT semantics)."""
        return await update(entity_id, data)

    @blueprint.patch("/<entity_id>")
    @tagged
    @single
    @validate_request(api.update_model)
    @validate_response(api.out_model)
    @validate_response(ErrorBody, 409)
    @rejected
    @not_found
    @requires("write", kind)
    async def patch_entity(entity_id: str, data):
        return await update(entity_id, data)

    @blueprint.delete("/<entity_id>")
    @tagged
    @single
    @validate_querystring(DeleteQuery)
    @validate_response(ErrorBody, 409)
    @not_found
    @requires("write", kind)
    async def delete_entity(entity_id: str, query_args: DeleteQuery):
        store = _gateway().store
        before = await store.get(kind, entity_id)
        await store.delete(kind, entity_id, force=query_args.force)
        await written(before, None)
        return "", 204

    for state in ("enable", "disable"):
        blueprint.add_url_rule(
            f"/<entity_id>/{state}",
            f"{state}_entity",
            _toggle(kind, state == "enable", written, api.out_model),
            methods=["POST"],
        )
    return blueprint


def _toggle(kind: str, enabled: bool, written, out_model):
    @requires("write", kind)
    async def toggle(entity_id: str):
        store = _gateway().store
        before = await store.get(kind, entity_id)
        after = await store.update(kind, entity_id, {"enabled": enabled})
        return await written(before, after)

    toggle.__name__ = f"{'enable' if enabled else 'disable'}_{kind[:-1]}"  # operationId post_enable_tool
    toggle.__doc__ = f"{'Enable' if enabled else 'Disable'} one of the {kind}; MCP clients see the change at once."
    return tag([kind])(validate_response(ErrorBody, 404)(validate_response(out_model)(toggle)))
