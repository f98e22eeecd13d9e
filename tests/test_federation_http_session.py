"""Federation's HTTP upstream session reads answer streams line by line itself: an SSE `data:`
line may hold a large tool result, longer than aiohttp's own readline accepts (128 KiB)."""

from __future__ import annotations

import orjson

from forge_plugins.federation.http_session import text_lines
from forge_plugins.federation.wire import sse_messages


class Chunks:
    """Stands in for an aiohttp response whose body arrives in the given chunks."""

    def __init__(self, chunks: list[bytes]):
        self.content = self
        self._chunks = chunks

    async def iter_any(self):
        for chunk in self._chunks:
            yield chunk


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


async def test_a_long_sse_line_split_across_chunks_is_one_message():
    result = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "x" * 400_000}]}}
    body = b": priming\r\n\r\nevent: message\r\ndata: " + orjson.dumps(result) + b"\r\n\r\n"
    messages = [message async for message in sse_messages(text_lines(Chunks(split_every(body, 7_000))))]
    assert messages == [result]


async def test_lines_keep_their_order_and_a_last_line_without_an_end_is_kept():
    lines = [line async for line in text_lines(Chunks([b"a\nb", b"c\r\n\n", b"d"]))]
    assert lines == ["a", "bc", "", "d"]
