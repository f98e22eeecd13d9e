"""An upstream's answer read without holding more than a limit (UPSTREAM_MAX_RESPONSE_BYTES).

Layer: kernel toolbox, used by whatever reads upstream answers over aiohttp: the REST adapter
and federation's HTTP session. A hostile or broken upstream cannot make Forge hold more than
the limit: a Content-Length over it is refused before the body is read, a chunked body as soon
as that much has arrived.
"""

from __future__ import annotations

import aiohttp


class ResponseTooLarge(Exception):
    """An upstream answer over UPSTREAM_MAX_RESPONSE_BYTES; the message says so."""

    @classmethod
    def over(cls, limit: int) -> ResponseTooLarge:
        return cls(f"the upstream's answer is larger than {limit} bytes (UPSTREAM_MAX_RESPONSE_BYTES)")


async def read_capped(response: aiohttp.ClientResponse, limit: int, too_large=ResponseTooLarge) -> bytes:
    """The answer's body; past `limit` bytes raises `too_large.over(limit)` (a class like
    `ResponseTooLarge`, so each caller raises the error its own callers handle)."""
    if response.content_length is not None:
        if response.content_length > limit:
            raise too_large.over(limit)
        return await response.read()
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise too_large.over(limit)
    return bytes(body)
