"""A concurrency cap per upstream (a bulkhead): one slow upstream cannot hold every call.

Layer: plugin (limits), wrapped around the tool adapters (`gateway.adapters`) at start-up, so it
sees every call an adapter makes, whichever transport or page asked for it. An upstream is a REST
tool's scheme, host and port, or a federated entity's gateway. At most UPSTREAM_MAX_CONCURRENT
calls to one upstream are in flight in this process; the next waits up to
UPSTREAM_QUEUE_SECONDS for one to finish, then fails clearly: an `isError` result for tools/call
(as any upstream failure), an internal error (-32603) for federated prompts, resources and
completions.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from forge.mcp.jsonrpc import INTERNAL_ERROR, McpError
from forge.services.tools import error_result


class UpstreamBusy(Exception):
    def __init__(self, upstream: str, limit: int, waited: float):
        super().__init__(
            f"upstream {upstream} is busy: {limit} calls are in flight (UPSTREAM_MAX_CONCURRENT) and none "
            f"finished within {waited:g} s; try again shortly"
        )


def upstream_of(entity: Mapping[str, Any]) -> str | None:
    """Which upstream serves a tool (or a federated prompt or resource), as a readable key."""
    if entity.get("gateway_id"):
        return f"gateway {entity['gateway_id']}"
    url = entity.get("url")
    if isinstance(url, str) and "://" in url:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return None


class Bulkhead:
    def __init__(self, limit: int, queue_seconds: float):
        self.limit = limit
        self.queue_seconds = queue_seconds
        self._slots: dict[str, asyncio.Semaphore] = {}
        self.in_flight: collections.Counter[str] = collections.Counter()  # calls holding a slot
        self.waiting: collections.Counter[str] = collections.Counter()  # calls queued for one

    async def acquire(self, upstream: str | None) -> asyncio.Semaphore | None:
        """Take one of `upstream`'s slots (give it back with `release`); raise `UpstreamBusy` when
        none frees up in time. None (an upstream Forge cannot name) is not capped."""
        if upstream is None:
            return None
        slots = self._slots.get(upstream)
        if slots is None:
            slots = self._slots[upstream] = asyncio.Semaphore(self.limit)
        if slots.locked():  # only a queued call pays for a timer
            self.waiting[upstream] += 1
            try:
                async with asyncio.timeout(self.queue_seconds):
                    await slots.acquire()
            except TimeoutError:
                raise UpstreamBusy(upstream, self.limit, self.queue_seconds) from None
            finally:
                self.waiting[upstream] -= 1
        else:
            await slots.acquire()  # free: answers at once
        self.in_flight[upstream] += 1
        return slots

    def release(self, upstream: str | None, slots: asyncio.Semaphore | None) -> None:
        if slots is not None:
            self.in_flight[upstream] -= 1
            slots.release()

    @contextlib.asynccontextmanager
    async def slot(self, upstream: str | None):
        """Hold one of `upstream`'s slots while the block runs (see `acquire`)."""
        slots = await self.acquire(upstream)
        try:
            yield
        finally:
            self.release(upstream, slots)


class BulkheadAdapter:
    """An adapter that takes a slot of the call's upstream before handing the call on. Anything
    else (`client`, `start`, `aclose`, ...) is the wrapped adapter's own."""

    def __init__(self, adapter, bulkhead: Bulkhead):
        self.adapter = adapter
        self.bulkhead = bulkhead

    def __getattr__(self, name: str):
        return getattr(self.adapter, name)

    async def invoke(self, tool, arguments, invocation=None) -> dict:
        # acquire/release rather than `slot`: this runs on every tools/call, and a generator-based
        # context manager costs more than the call's own bookkeeping.
        upstream = upstream_of(tool)
        try:
            slots = await self.bulkhead.acquire(upstream)
        except UpstreamBusy as busy:
            return error_result(f"Tool {tool.get('name')!r}: {busy}")
        try:
            return await self.adapter.invoke(tool, arguments, invocation)
        finally:
            self.bulkhead.release(upstream, slots)

    async def get_prompt(self, prompt, arguments, invocation) -> dict:
        return await self._call(prompt, self.adapter.get_prompt, prompt, arguments, invocation)

    async def read_resource(self, resource, uri, invocation) -> dict:
        return await self._call(resource, self.adapter.read_resource, resource, uri, invocation)

    async def complete(self, entity, params, invocation) -> dict:
        return await self._call(entity, self.adapter.complete, entity, params, invocation)

    async def _call(self, entity, method, *args) -> dict:
        try:
            async with self.bulkhead.slot(upstream_of(entity)):
                return await method(*args)
        except UpstreamBusy as busy:
            raise McpError(INTERNAL_ERROR, str(busy)) from None


def cap_adapters(gateway, bulkhead: Bulkhead) -> None:
    """Put every adapter of `gateway` behind `bulkhead` (once)."""
    gateway.adapters = {
        kind: adapter if isinstance(adapter, BulkheadAdapter) else BulkheadAdapter(adapter, bulkhead)
        for kind, adapter in gateway.adapters.items()
    }
