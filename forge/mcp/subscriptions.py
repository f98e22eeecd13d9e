"""`subscriptions/listen` of the 2026-07-28 revision: change notifications on a long-lived stream.

Layer: protocol. The listen handler answers a `Subscription`, an async iterator of notification
messages that a streaming transport writes out until the client goes away. The hub fans the
gateway's catalog changes out to every open subscription whose filter asks for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from forge.contracts import Principal
from forge.mcp import jsonrpc
from forge.mcp.versions import META_SUBSCRIPTION_ID

# The filter fields a client may set, and which catalog kind each follows.
LIST_FILTERS = {"toolsListChanged": "tools", "promptsListChanged": "prompts", "resourcesListChanged": "resources"}
QUEUE_LIMIT = 1000  # notifications held for one slow listener before the oldest are dropped


class Subscription:
    """One open listen stream. Iterating yields the acknowledgement, then each matching change."""

    def __init__(
        self,
        hub: SubscriptionHub,
        subscription_id: Any,
        wanted: Mapping[str, Any],
        principal: Principal | None = None,
    ):
        self.hub = hub
        self.id = subscription_id
        self.principal = principal  # who opened it, re-checked while it is open (`forge.mcp.revalidation`)
        self.kinds = {kind for field, kind in LIST_FILTERS.items() if wanted.get(field) is True}
        uris = wanted.get("resourceSubscriptions") or []
        self.uris = {uri for uri in uris if isinstance(uri, str)}
        self.queue: asyncio.Queue = asyncio.Queue(QUEUE_LIMIT)
        self.honoured = {field: True for field, kind in LIST_FILTERS.items() if kind in self.kinds}
        if self.uris:
            self.honoured["resourceSubscriptions"] = sorted(self.uris)
        self.queue.put_nowait(self._tagged("notifications/subscriptions/acknowledged", {"notifications": self.honoured}))

    def _tagged(self, method: str, params: dict | None = None) -> dict:
        params = dict(params or {})
        params["_meta"] = {META_SUBSCRIPTION_ID: self.id}
        return jsonrpc.notification(method, params)

    def offer(self, message: dict) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(message)

    def close(self) -> None:
        self.hub.remove(self)

    def __aiter__(self):
        return self

    async def __anext__(self) -> dict:
        return await self.queue.get()


class SubscriptionHub:
    def __init__(self):
        self._open: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self):
        return iter(list(self._open))

    def open(
        self, subscription_id: Any, wanted: Mapping[str, Any], principal: Principal | None = None
    ) -> Subscription:
        subscription = Subscription(self, subscription_id, wanted, principal)
        self._open.add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        self._open.discard(subscription)

    def end(self, subscription: Subscription) -> None:
        """End one listen stream (its credential no longer holds): its next yields None."""
        self.remove(subscription)
        subscription.offer(None)

    def end_all(self) -> None:
        """End every listen stream (shutdown): each next yields None, on which transports close it."""
        for subscription in list(self._open):
            subscription.offer(None)

    def publish(self, kind: str, method: str) -> None:
        for subscription in self._open:
            if kind in subscription.kinds:
                subscription.offer(subscription._tagged(method))

    def publish_resource(self, uri: str, affected: Callable[[str], bool] | None = None) -> None:
        """Tell listeners that `uri` changed; `affected` picks the subscribed URIs the change
        touches (those a changed URI template expands to), by default `uri` alone."""
        affected = affected or uri.__eq__
        for subscription in self._open:
            for subscribed in sorted(filter(affected, subscription.uris)):
                subscription.offer(subscription._tagged("notifications/resources/updated", {"uri": subscribed}))
