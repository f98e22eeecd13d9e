"""A circuit breaker per upstream: after N failures in a row, calls fail at once for a while.

Layer: plugin, used by the forwarding adapter. A failure is the upstream being unreachable or too
slow, never a JSON-RPC error it answered (that is an answer). Open, it refuses calls until
`reset_after` seconds have passed; then one call may try (half-open): its success closes the
circuit, its failure opens it again.
"""

from __future__ import annotations

import time


class CircuitOpen(Exception):
    """The upstream failed too often lately; the message says when it will be tried again."""


class Breaker:
    def __init__(self, threshold: int, reset_after: float, clock=time.monotonic):
        self.threshold = threshold
        self.reset_after = reset_after
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trying = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.reset_after else "open"

    def check(self) -> None:
        """Raise `CircuitOpen` unless a call may go to the upstream now."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self.trying:
            self.trying = True
            return
        wait = max(0.0, self.reset_after - (self.clock() - self.opened_at))
        raise CircuitOpen(f"failed {self.failures} times in a row; next try in {wait:.0f} s")

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.trying = 0, None, False

    def abandoned(self) -> None:
        """A call ended without telling whether the upstream works (its client left)."""
        self.trying = False

    def failed(self) -> None:
        self.failures += 1
        self.trying = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self.clock()
