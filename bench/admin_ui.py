"""The admin UI with a large catalog: how long its pages take to render with 10,000 tools.

    .venv/bin/python bench/admin_ui.py [--tools N] [--repeat R]

Starts Forge in this process (Hypercorn on a free loopback port, SQLite in a temporary folder,
AUTH_REQUIRED=false), inserts N tools straight into the store in one transaction, rebuilds the
catalog, then times, over HTTP: the tools page's very first render (templates compiled on the
way), the first page again (warm), a deep page, a search, and the overview and metrics panels
(which walk the whole in-memory catalog). The target is the first page under 1 s; nothing is
asserted (the machine may be shared and noisy), and this is not part of the test suite.
Only loopback addresses; every loop is bounded by a count.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forge.app import create_app
from forge.settings import Settings
from forge.store.models import Tool

TARGET_MS = 1000.0
SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string", "description": "Text to echo."}},
    "required": ["text"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def fill(gateway, count: int) -> float:
    """Insert `count` tools in one transaction and rebuild the catalog; answer the seconds."""
    rows = [
        {
            "id": uuid.uuid4().hex,
            "name": f"tool-{number:05d}",
            "description": f"Bench tool number {number}",
            "integration_type": "REST",
            "url": f"http://127.0.0.1:9/tools/{number}",
            "method": "POST",
            "headers": {},
            "annotations": {},
            "input_schema": SCHEMA,
            "enabled": number % 10 != 0,
        }
        for number in range(count)
    ]
    started = time.perf_counter()
    async with gateway.store.sessions() as session, session.begin():
        await session.execute(insert(Tool), rows)
    await gateway.reload_catalog()
    return time.perf_counter() - started


async def timed(client: httpx.AsyncClient, path: str, expect: str) -> float:
    started = time.perf_counter()
    answer = await client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200 or expect not in answer.text:
        raise RuntimeError(
            f"GET {path} answered {answer.status_code}, without {expect!r}: {answer.text[:300]}"
        )
    return elapsed


async def measure(client: httpx.AsyncClient, path: str, expect: str, repeat: int) -> str:
    times = sorted([await timed(client, path, expect) for _ in range(repeat)])
    p95 = times[min(len(times) - 1, round(len(times) * 0.95))]
    return f"p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   ({repeat} requests)"


async def main(tools: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="forge-bench-ui-"))
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{folder / 'forge.db'}",
        auth_required=False,
        port=free_port(),
        log_level="WARNING",
    )
    app = create_app(settings)
    config = Config()
    config.bind = [f"127.0.0.1:{settings.port}"]
    config.accesslog = config.errorlog = None
    stopping = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stopping.wait))
    url = f"http://127.0.0.1:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for _ in range(200):
                try:
                    if (await client.get("/health")).status_code == 200 and app.gateway.started:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
            seconds = await fill(app.gateway, tools)
            print(f"Forge admin UI with {tools:,} tools (inserted and catalog rebuilt in {seconds:.1f} s)")
            first = await timed(client, "/admin/tools", f"1–50 of {tools:,} tools")
            verdict = "under" if first < TARGET_MS else "OVER"
            print(
                f"  tools page, first render (cold)  {first:7.1f} ms   {verdict} the {TARGET_MS:.0f} ms target"
            )
            last_page = (tools + 49) // 50
            rows = {
                "tools page 1 (warm)": ("/admin/tools", "tool-00000"),
                f"tools page {last_page} (the last)": (
                    f"/admin/tools?page={last_page}",
                    f"tool-{tools - 1:05d}",
                ),
                "tools search 'tool-0999'": ("/admin/tools?q=tool-0999", "tool-09990"),
                "tools, disabled only": ("/admin/tools?state=disabled", "tool-00010"),
                "overview": ("/admin/overview", "Catalog"),
                "metrics": ("/admin/metrics", "Per tool"),
                "new virtual server form": ("/admin/servers/new", "Add tools by name"),
            }
            for label, (path, expect) in rows.items():
                print(f"  {label:32} {await measure(client, path, expect, repeat)}")
    finally:
        stopping.set()
        await server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=int, default=10_000, help="tools in the catalog (default 10,000)")
    parser.add_argument("--repeat", type=int, default=20, help="requests per warm measurement (default 20)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.tools, max(arguments.repeat, 1)))
