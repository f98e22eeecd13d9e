"""One write, applied to the in-memory catalog, gives what a rebuild from the store would give.

The management API patches the catalog with the entity it just wrote (`Catalog.with_change`)
instead of re-reading every table: these tests hold that patch to the rebuild, over a long random
run of creates, updates and deletes of every kind, and through a live gateway.
"""

from __future__ import annotations

import copy
import random

from forge.catalog import BULK_CHANGES, LIST_KINDS, Catalog

NATURAL_KEYS = {"tools": "name", "prompts": "name", "resources": "uri", "servers": "name", "gateways": "name"}


def random_entity(rng: random.Random, kind: str, snapshot: dict) -> dict:
    entity = {"id": f"{rng.getrandbits(32):08x}", "enabled": rng.random() > 0.2}
    gateways = [g["id"] for g in snapshot["gateways"]]
    if kind in LIST_KINDS:
        entity["gateway_id"] = rng.choice([*gateways, None, None])
    if kind == "tools":
        entity.update(name=f"t{rng.randint(0, 30)}", description=rng.choice(["a", "b", None]), url=rng.choice(["u1", "u2"]))
    elif kind == "prompts":
        entity.update(name=f"p{rng.randint(0, 30)}", description=rng.choice(["a", None]))
    elif kind == "resources":
        template = rng.random() < 0.3
        uri = f"docs://x/{{id{rng.randint(0, 5)}}}" if template else f"docs://r{rng.randint(0, 30)}"
        entity.update(uri=uri, name="n", is_template=template)
    elif kind == "gateways":
        entity.update(name=f"g{rng.randint(0, 5)}", state=rng.choice(["healthy", "unhealthy", None]))
    else:
        members = {
            f"{k[:-1]}_ids": rng.sample([e["id"] for e in snapshot[k]], min(len(snapshot[k]), rng.randint(0, 4)))
            for k in LIST_KINDS
        }
        entity.update(name=f"s{rng.randint(0, 5)}", **members)
    return entity


def visible(catalog: Catalog) -> dict:
    """Everything an MCP client can see or reach, per scope."""

    def of(scope):
        templates = sorted(resource["id"] for _, resource in scope.templates)
        return scope.listed, sorted(scope.tools), sorted(scope.resources), sorted(scope.prompts), templates

    return {"all": of(catalog.all), **{sid: of(scope) for sid, scope in catalog.servers.items()}}


def random_writes(rng: random.Random, snapshot: dict, count: int):
    """`count` writes the store would accept, applied to `snapshot`: each (kind, id, after)."""
    for _ in range(count):
        kind = rng.choice(["tools", "tools", "resources", "prompts", "servers", "gateways"])
        action = rng.choice(["create", "create", "update", "delete"]) if snapshot[kind] else "create"
        if action == "delete":
            gone = rng.choice(snapshot[kind])
            entity_id, after = gone["id"], None
            snapshot[kind].remove(gone)
            if kind in LIST_KINDS:  # what the store does on a forced delete
                held = f"{kind[:-1]}_ids"
                snapshot["servers"] = [{**s, held: [i for i in s[held] if i != entity_id]} for s in snapshot["servers"]]
            if kind == "gateways":  # the store cascades to what the gateway offered
                for member in LIST_KINDS:
                    snapshot[member] = [e for e in snapshot[member] if e.get("gateway_id") != entity_id]
        else:
            after = random_entity(rng, kind, snapshot)
            if action == "update":
                after["id"] = rng.choice(snapshot[kind])["id"]
            key = NATURAL_KEYS[kind]
            if any(e[key] == after[key] and e["id"] != after["id"] for e in snapshot[kind]):
                continue  # the store refuses a taken name
            snapshot[kind] = [e for e in snapshot[kind] if e["id"] != after["id"]] + [after]
            entity_id = after["id"]
        yield kind, entity_id, copy.deepcopy(after)


def test_a_patched_catalog_equals_one_rebuilt_from_the_store_after_every_write():
    snapshot = {kind: [] for kind in NATURAL_KEYS}
    catalog = Catalog(snapshot)
    for kind, entity_id, after in random_writes(random.Random(7), snapshot, 2000):
        patched, announced = catalog.with_change(kind, entity_id, after)
        rebuilt = Catalog(copy.deepcopy(snapshot))
        assert visible(patched) == visible(rebuilt)
        assert announced == rebuilt.changed_lists(catalog)
        catalog = patched


def test_many_writes_at_once_are_one_rebuild_with_the_same_result():
    rng = random.Random(11)
    snapshot = {kind: [] for kind in NATURAL_KEYS}
    list(random_writes(rng, snapshot, 300))
    catalog = Catalog(copy.deepcopy(snapshot))
    for size in (3, BULK_CHANGES + 1, 500):
        writes = list(random_writes(rng, snapshot, size))
        applied, announced = catalog.with_changes(writes)
        rebuilt = Catalog(copy.deepcopy(snapshot))
        assert visible(applied) == visible(rebuilt)
        assert announced == rebuilt.changed_lists(catalog)
        catalog = applied


def test_a_change_clients_cannot_see_announces_nothing():
    tool = {"id": "1", "name": "weather", "url": "http://a", "enabled": True}
    catalog = Catalog({"tools": [tool]})
    moved, announced = catalog.with_change("tools", "1", {**tool, "url": "http://b"})
    assert announced == set()
    assert moved.all.tools["weather"]["url"] == "http://b"
    assert catalog.all.tools["weather"]["url"] == "http://a"  # a catalog is never changed in place


def test_writes_through_the_api_reach_mcp_without_a_rebuild(forge, api, rest_upstream):
    def rebuilds():
        return getattr(forge.gateway.store, "snapshots", 0)

    original = forge.gateway.store.snapshot

    async def counted():
        forge.gateway.store.snapshots = rebuilds() + 1
        return await original()

    forge.gateway.store.snapshot = counted
    created = api.post("/tools", json={"name": "first", "url": rest_upstream + "/a"}).json()
    api.post("/tools", json={"name": "second", "url": rest_upstream + "/b"}).raise_for_status()
    api.post(f"/tools/{created['id']}/disable").raise_for_status()
    server = api.post("/servers", json={"name": "pair", "tool_ids": [created["id"]]}).json()
    api.post(f"/tools/{created['id']}/enable").raise_for_status()

    listed = api.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).json()
    assert [tool["name"] for tool in listed["result"]["tools"]] == ["first", "second"]
    scoped = api.post(f"/servers/{server['id']}/rpc", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).json()
    assert [tool["name"] for tool in scoped["result"]["tools"]] == ["first"]
    assert rebuilds() == 0
