"""Reading a `text/event-stream` body: the events of a Streamable HTTP answer or GET stream.

Layer: the stdio bridge's client side, below `forge_plugins.transport_stdio.bridge`. Lines are
split on bytes, not with `str.splitlines`, which would also break a JSON payload at U+2028 and
other characters that JSON carries unescaped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"
    id: str | None = None


async def lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Decoded lines without their terminator (LF or CRLF)."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.removesuffix(b"\r").decode("utf-8")
    if pending:
        yield pending.removesuffix(b"\r").decode("utf-8")


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """Each event as it completes; comments (keep-alives) are skipped, an event with an id but no
    data (a priming event) is yielded so its id can be remembered for resumption."""
    data: list[str] = []
    name, event_id = "message", None
    async for line in lines(chunks):
        if not line:
            if data or event_id is not None:
                yield Event("\n".join(data), name, event_id)
            data, name, event_id = [], "message", None
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
            elif field == "id":
                event_id = value
