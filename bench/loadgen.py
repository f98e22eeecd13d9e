"""The benchmark's load generator: a tiny asyncio HTTP/1.1 client with keep-alive connections.

Run by `bench/run.py` as its own process (pinned away from Forge's core): it reads one JSON
spec on stdin and writes one JSON result on stdout. Two modes:

- `load`: `concurrency` connections each send the same prebuilt request back to back, first for
  `warmup` seconds (not counted), then for `duration` seconds or `max_requests` requests,
  whichever ends first. Answers: count, errors, elapsed, latency percentiles, its own CPU, and
  the CPU the `watch`ed processes (by pid) spent in the counted part.
- `walk`: one connection follows `nextCursor` through every page of a list method, again and
  again for `duration` seconds or `max_walks` walks. Answers: walk times (round trips only),
  pages and items of the last walk.

A response is an error when its status is not 2xx or its body lacks the `expect` bytes. The
client parses only the status line and Content-Length (or chunked framing), so it costs a few
tens of microseconds of CPU a request, which the result reports.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time

try:
    from orjson import dumps as _dumps, loads
except ImportError:  # the client needs no third-party package; orjson only makes walks cheaper
    from json import loads

    def _dumps(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


GRACE_SECONDS = 30.0  # beyond the planned duration, after which a phase is abandoned
MAX_PAGES = 100_000


def build_request(host: str, port: int, method: str, path: str, headers: dict, body) -> bytes:
    payload = b"" if body is None else _dumps(body)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(payload)}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class Connection:
    """One keep-alive HTTP/1.1 connection; reopens itself when the server closed it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 24)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request, answer (status, body); on a dropped connection (0, reason)."""
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status, length, chunked, closing = parse_head(head)
            body = await self._read_chunked() if chunked else await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as failure:
            self.close()
            await self.open()
            return 0, repr(failure).encode()
        if closing:
            self.close()
            await self.open()
        return status, body

    async def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return b"".join(chunks)
            chunks.append(chunk[:-2])


def parse_head(head: bytes) -> tuple[int, int, bool, bool]:
    """(status, content length, chunked?, connection closing?) from a response's head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, closing = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            closing = b"close" in value.lower()
    return status, length, chunked, closing


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Phase:
    """Shared counters of one timed phase of a `load` run."""

    def __init__(self, deadline: float, limit: int):
        self.deadline, self.limit = deadline, limit
        self.issued = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error: str | None = None
        self.sample: bytes | None = None


async def _worker(connection: Connection, raw: bytes, expect: bytes, phase: Phase) -> None:
    clock = time.perf_counter
    while phase.issued < phase.limit and clock() < phase.deadline:
        phase.issued += 1
        started = clock()
        status, body = await connection.request(raw)
        phase.latencies.append(clock() - started)
        if phase.sample is None:
            phase.sample = body
        if not 200 <= status < 300 or expect not in body:
            phase.errors += 1
            if phase.first_error is None:
                phase.first_error = f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}"


async def _phase(connections, raw: bytes, expect: bytes, seconds: float, limit: int) -> tuple[Phase, float]:
    phase = Phase(time.perf_counter() + seconds, limit)
    started = time.perf_counter()
    workers = [_worker(connection, raw, expect, phase) for connection in connections]
    await asyncio.wait_for(asyncio.gather(*workers), seconds + GRACE_SECONDS)
    return phase, time.perf_counter() - started


async def load(spec: dict) -> dict:
    host, port = spec["host"], spec["port"]
    raw = build_request(host, port, spec.get("method", "POST"), spec["path"], spec.get("headers", {}), spec.get("body"))
    expect = spec.get("expect", "").encode()
    connections = [await Connection(host, port).open() for _ in range(spec["concurrency"])]
    try:
        warm, _ = await _phase(connections, raw, expect, spec["warmup"], spec["max_requests"])
        watched = spec.get("watch", {})
        before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        cpu = time.process_time()
        phase, elapsed = await _phase(connections, raw, expect, spec["duration"], spec["max_requests"])
        cpu = time.process_time() - cpu
        spent = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
    finally:
        for connection in connections:
            connection.close()
    ordered = sorted(phase.latencies)
    count = len(ordered)
    return {
        "requests": count,
        "warmup_requests": len(warm.latencies),
        "errors": phase.errors + warm.errors,
        "first_error": phase.first_error or warm.first_error,
        "elapsed": elapsed,
        "rps": count / elapsed if elapsed else 0.0,
        "min_ms": ordered[0] * 1000 if ordered else float("nan"),
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "client_cpu_us": cpu / count * 1e6 if count else float("nan"),
        "cpu_seconds": spent,
        "response_bytes": len(phase.sample or b""),
        "sample": (phase.sample or b"")[:2000].decode("utf-8", "replace"),
    }


async def walk(spec: dict) -> dict:
    """Walk every page of a list method repeatedly; `body` is the request, `cursor` is set in its
    params. A walk's time is the sum of its round trips: the client's JSON parsing is left out."""
    host, port = spec["host"], spec["port"]
    connection = await Connection(host, port).open()
    walks, pages, items, size, errors = [], 0, 0, 0, []
    clock = time.perf_counter
    deadline = clock() + spec["duration"]
    try:
        while len(walks) < spec["max_walks"] and (not walks or clock() < deadline):
            spent, cursor, pages, items, size = 0.0, None, 0, 0, 0
            while pages < MAX_PAGES:
                body = json.loads(json.dumps(spec["body"]))
                if cursor is not None:
                    body["params"]["cursor"] = cursor
                raw = build_request(host, port, "POST", spec["path"], spec.get("headers", {}), body)
                started = clock()
                status, answer = await asyncio.wait_for(connection.request(raw), GRACE_SECONDS)
                spent += clock() - started
                pages, size = pages + 1, size + len(answer)
                result = loads(answer).get("result") if status == 200 else None
                if result is None:
                    errors.append(f"HTTP {status}: {answer[:300].decode('utf-8', 'replace')}")
                    break
                items += len(result[spec["key"]])
                cursor = result.get("nextCursor")
                if not cursor:
                    break
            walks.append(spent)
            if errors:
                break
    finally:
        connection.close()
    ordered = sorted(walks)
    return {
        "walks": len(walks),
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "min_ms": ordered[0] * 1000 if ordered else float("nan"),
        "pages": pages,
        "items": items,
        "bytes": size,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    spec = json.load(sys.stdin)
    result = asyncio.run({"load": load, "walk": walk}[spec["mode"]](spec))
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
