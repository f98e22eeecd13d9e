"""Failed-login throttling per client address: too many failures in a window answer 429.

Layer: plugin, in memory, per gateway (per worker process). While an address is over the limit,
every credential it presents is refused with `TooManyFailures` (429, Retry-After) before it is
checked, so guessing goes no faster by also sending a right password now and then. An address
is the TCP peer, or, when that is one of TRUSTED_PROXIES, the client it forwards for (the front
door rewrites the scope: `forge.forwarded`). Behind a proxy that is not trusted, every client
shares the proxy's address and its limit.
"""

from __future__ import annotations

import math
import time
from collections import deque

from forge.auth import TooManyFailures

MAX_TRACKED = 50_000  # addresses remembered at once; beyond it the stalest are forgotten


class FailureThrottle:
    def __init__(self, limit: int, window: float, clock=time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, address: str | None) -> None:
        """Raise `TooManyFailures` while `address` is over the limit."""
        if not self.limit or address is None:
            return
        failures = self._failures.get(address)
        if not failures:
            return
        now = self.clock()
        self._expire(failures, now)
        if len(failures) >= self.limit:
            raise TooManyFailures(max(1, math.ceil(failures[0] + self.window - now)))

    def failed(self, address: str | None) -> None:
        if not self.limit or address is None:
            return
        now = self.clock()
        failures = self._failures.pop(address, None) or deque(maxlen=self.limit)
        self._expire(failures, now)
        failures.append(now)
        self._failures[address] = failures  # re-inserted: the dict stays ordered by last failure
        if len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]

    def _expire(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self.window:
            failures.popleft()
