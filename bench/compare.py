"""The benchmark's comparisons: Forge beside ContextForge and beside the practical ceiling, Forge
under each ASGI server, and Forge's memory with 10,000 open sessions.

Used by `bench/run.py` (sections d, e, f); every process runs where run.py puts Forge (the first
core) and is stopped before the next starts, so each has that core to itself, with the same echo
upstream and the same load generator on the second core.

- ContextForge (`mcp-contextforge-gateway` from PyPI) is installed once into its own virtual
  environment under ~/.cache/forge-bench (FORGE_BENCH_CACHE overrides), and run with one worker,
  SQLite, JWT_SECRET_KEY of 32 random characters, RATE_LIMITING_ENABLED=false and
  SSRF_ALLOW_LOCALHOST=true; its REST tool is registered as {"tool": {...}} and called through its
  /rpc with a bearer token it made. When it cannot be installed, its rows say why.
- The ceiling is `bench/ceiling.py`: raw ASGI + orjson + a pooled aiohttp client under uvicorn, and
  again under Hypercorn (Forge's default server), so both what Python allows and what Forge's
  server allows are shown.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import launch
from launch import BENCH, free_port, memory_mib, wait_for_http
from run import number, rpc_body, table

CACHE = Path(os.environ.get("FORGE_BENCH_CACHE", Path.home() / ".cache" / "forge-bench"))
CONTEXTFORGE_VENV = CACHE / "contextforge"
CONTEXTFORGE_PACKAGE = "mcp-contextforge-gateway"
INSTALL_TIMEOUT = 900.0
CONTEXTFORGE_START_TIMEOUT = 180.0  # it runs its migrations first
CALL = {"name": "echo", "arguments": {"text": "hello"}}
SESSIONS = 10_000


def request(port: int, method: str, path: str, payload=None, headers=None, timeout: float = 60) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = None if payload is None else json.dumps(payload)
        connection.request(method, path, body, {"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def rpc_target(port: int, headers: dict | None = None) -> dict:
    return {"port": port, "path": "/rpc", "headers": {"Accept": "application/json", **(headers or {})},
            "body": rpc_body("tools/call", CALL), "expect": '"isError":false'}


# --- Forge under another server -------------------------------------------------------------------


def start_forge(bench, server: str) -> tuple[subprocess.Popen, int]:
    """Another Forge on the same database, with `server`; the caller stops it."""
    port = free_port()
    child, _ = launch.start_forge(bench.children, f"forge-{server}", bench.database, port, bench.forge_core, bench.folder, server)
    return child, port


def worker_of(child: subprocess.Popen):
    """The process that serves requests: Granian's one worker (its main process only supervises)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{child.pid}/task/{child.pid}/children").read_text().split()
            if children:
                return SimpleNamespace(pid=int(children[0]))
        time.sleep(0.1)
    return child


def measure(bench, child, target: dict, concurrency: int) -> dict:
    """`bench.load` against another process than the main Forge (its CPU is what is counted)."""
    return bench.side_by_side([(child, target)], concurrency)[0]


def beside_forge(bench, child, target: dict, concurrency: int) -> tuple[dict, dict]:
    """(Forge's tools/call through /rpc, `child`'s `target`), measured in turns round after round,
    so that a ratio of the two is not a quiet moment's figure against a busy one's."""
    forge, other = bench.side_by_side([(bench.forge, rpc_target(bench.forge_port)), (child, target)], concurrency)
    return forge, other


def servers(bench, names: list[str], levels: tuple[int, ...]) -> dict:
    """tools/call through /rpc of a Forge under each server: {(server, concurrency): result}."""
    results = {}
    for server in names:
        try:
            child, port = start_forge(bench, server)
        except RuntimeError as failure:
            bench.notes.append(f"Forge under {server}: {str(failure).splitlines()[0]}")
            continue
        serving = worker_of(child) if server == "granian" else child
        try:
            for concurrency in levels:
                results[server, concurrency] = measure(bench, serving, rpc_target(port), concurrency)
        finally:
            stop(child)
    return results


# --- the ceiling ----------------------------------------------------------------------------------


def ceiling(bench, levels: tuple[int, ...], server: str = "uvicorn") -> dict:
    """The bare relay (`bench/ceiling.py`) under `server` beside Forge at each level:
    {concurrency: (Forge's result, the relay's)}."""
    port = free_port()
    name = f"ceiling-{server}"
    child = bench.children.start(
        name, [sys.executable, str(BENCH / "ceiling.py"), str(port), bench.echo_url, server], bench.forge_core, cwd=BENCH
    )
    try:
        wait_for_http(child, port, "/", f"the ceiling relay ({server})", bench.children, name)
        return {c: beside_forge(bench, child, rpc_target(port), c) for c in levels}
    finally:
        stop(child)


# --- ContextForge ---------------------------------------------------------------------------------


def install_contextforge() -> Path:
    """The virtual environment with ContextForge, made on first use; raises RuntimeError."""
    python = CONTEXTFORGE_VENV / "bin" / "python"
    marker = CONTEXTFORGE_VENV / ".installed"
    if marker.exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    steps = [[sys.executable, "-m", "venv", str(CONTEXTFORGE_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CONTEXTFORGE_PACKAGE]]
    for step in steps:
        if step[1] == "-m" and step[2] == "venv" and python.exists():
            continue
        done = subprocess.run(step, check=False, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"installing {CONTEXTFORGE_PACKAGE} failed: {done.stderr.strip().splitlines()[-1:]}")
    marker.write_text(CONTEXTFORGE_PACKAGE)
    return python


def contextforge(bench, levels: tuple[int, ...]) -> tuple[dict, str]:
    """({concurrency: (Forge's result, ContextForge's)}, version) of tools/call through each one's /rpc."""
    python = install_contextforge()
    version = subprocess.run([str(python), "-m", "pip", "show", CONTEXTFORGE_PACKAGE], check=False, capture_output=True,
                             text=True).stdout
    version = next((line.split(":", 1)[1].strip() for line in version.splitlines() if line.startswith("Version:")), "?")
    port, secret = free_port(), secrets.token_urlsafe(32)
    folder = bench.folder / "contextforge"
    folder.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(folder), "HOST": "127.0.0.1", "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{folder / 'mcp.db'}", "JWT_SECRET_KEY": secret,
        "BASIC_AUTH_USER": "admin", "BASIC_AUTH_PASSWORD": secrets.token_urlsafe(16),
        "PLATFORM_ADMIN_EMAIL": "admin@example.com", "PLATFORM_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "RATE_LIMITING_ENABLED": "false", "SSRF_ALLOW_LOCALHOST": "true", "SSRF_PROTECTION_ENABLED": "false",
        "MCPGATEWAY_UI_ENABLED": "false", "MCPGATEWAY_ADMIN_API_ENABLED": "true", "LOG_LEVEL": "ERROR",
        "CACHE_TYPE": "memory", "GUNICORN_WORKERS": "1", "WORKERS": "1", "PLUGINS_ENABLED": "false",
        "OBSERVABILITY_ENABLED": "false", "TOOL_RATE_LIMIT": "1000000",
    }
    gateway = CONTEXTFORGE_VENV / "bin" / "mcpgateway"
    child = bench.children.start("contextforge", [str(gateway), "--host", "127.0.0.1", "--port", str(port)],
                                 bench.forge_core, env=env, cwd=folder)
    try:
        wait_for_http(child, port, "/health", "ContextForge", bench.children, "contextforge", CONTEXTFORGE_START_TIMEOUT)
        token = subprocess.run(
            [str(python), "-m", "mcpgateway.utils.create_jwt_token", "--username", "admin@example.com", "--exp", "60",
             "--secret", secret], check=False, capture_output=True, text=True, env=env, cwd=folder, timeout=120,
        ).stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        tool = {"name": "echo", "url": bench.echo_url, "integration_type": "REST", "request_type": "POST",
                "description": "Echo the arguments.",
                "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}}}
        status, body = request(port, "POST", "/tools", {"tool": tool}, auth)
        if status not in (200, 201):
            raise RuntimeError(f"ContextForge POST /tools answered {status}: {body[:300]!r}")
        status, body = request(port, "POST", "/rpc", rpc_body("tools/call", CALL), auth)
        if status != 200 or b'"isError":false' not in body:
            raise RuntimeError(f"ContextForge tools/call answered {status}: {body[:300]!r}")
        return measure_levels(bench, child, rpc_target(port, auth), levels, "ContextForge"), version
    finally:
        stop(child)


def measure_levels(bench, child, target: dict, levels: tuple[int, ...], what: str) -> dict:
    """`beside_forge` at each concurrency, lowest first, leaving out a level the last one's pace
    says would take longer than a round allows (every client sends at least one call per phase)."""
    results: dict[int, tuple[dict, dict]] = {}
    for concurrency in levels:
        if results:
            pace = results[max(results)][1]["rps"]
            if pace * 15 < concurrency:
                bench.notes.append(f"{what} at c={concurrency} left out: {pace:.1f} calls/s at c={max(results)} means "
                                   f"{concurrency / max(pace, 0.01):.0f} s for one call per client")
                break
        results[concurrency] = beside_forge(bench, child, target, concurrency)
    return results


# --- sessions -------------------------------------------------------------------------------------


def session_memory(bench, count: int = SESSIONS) -> tuple[float, float, dict]:
    """Forge's RSS before and after `count` handshake-era sessions are opened (and left open)."""
    before = bench.idle_memory()[0]
    initialize = rpc_body("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                         "clientInfo": {"name": "bench", "version": "0"}})
    target = {"port": bench.forge_port, "path": "/mcp", "headers": {"Accept": "application/json, text/event-stream"},
              "body": initialize, "expect": '"protocolVersion"'}
    result = bench._loadgen({
        "mode": "load", "host": "127.0.0.1", "method": "POST", "concurrency": 32, "warmup": 0, "duration": 120,
        "max_requests": count, "watch": {}, **target,
    })
    time.sleep(1.0)
    after = memory_mib(bench.forge.pid)[0]
    return before, after, result


# --- the report -----------------------------------------------------------------------------------


def report_comparison(comparisons: dict[str, dict], notes: list[str]) -> list[str]:
    """(d): for each comparator, {concurrency: (Forge's result, the comparator's)} taken in turns."""
    out = ["", "(d) tools/call through /rpc: Forge beside ContextForge and beside the ceiling (a bare relay: raw ASGI,",
           "    orjson, pooled aiohttp) under uvicorn and under Hypercorn (on uvloop, as `forge serve` runs it: what",
           "    Forge could reach at best on its default server); each alone on Forge's core, same echo upstream,",
           "    same client, Forge and the comparator measured in turns, round after round"]
    rows = []
    for name, pairs in comparisons.items():
        for concurrency, (mine, theirs) in sorted(pairs.items()):
            rows.append([
                name, str(concurrency),
                number(mine["rps"], 0), number(mine["p50_ms"], 2), number(mine["forge_cpu_ms"], 3),
                number(theirs["rps"], 0), number(theirs["p50_ms"], 2), number(theirs["forge_cpu_ms"], 3),
                number(mine["rps"] / theirs["rps"], 2) if theirs["rps"] else "-",
                number(theirs["forge_cpu_ms"] / mine["forge_cpu_ms"], 2) if mine["forge_cpu_ms"] else "-",
            ])
    out += table(["beside", "conc", "Forge calls/s", "p50 ms", "CPU ms/call", "its calls/s", "p50 ms", "CPU ms/call",
                  "Forge/it calls", "it/Forge CPU"], rows)
    return out + notes


def report_servers(results: dict) -> list[str]:
    out = ["", "(e) Forge's tools/call through /rpc under each ASGI server (`forge serve --server NAME`, one worker)"]
    rows = [[server, str(c), number(r["rps"], 0), number(r["p50_ms"], 2), number(r["p99_ms"], 2),
             number(r["forge_cpu_ms"], 3), number(r["forge_busy"], 0), str(r["errors"])]
            for (server, c), r in results.items()]
    return out + table(["server", "conc", "calls/s", "p50 ms", "p99 ms", "CPU ms/call", "core %", "errors"], rows)


def report_sessions(before: float, after: float, result: dict) -> list[str]:
    opened = result["requests"] - result["errors"]
    line = (
        f"(f) memory with open sessions: {opened:,} handshake-era sessions opened (initialize, never ended) in "
        f"{result['elapsed']:.1f} s: RSS {before:.1f} -> {after:.1f} MiB, "
        f"{(after - before) * 1024 / max(opened, 1):.2f} KiB a session"
    )
    return ["", line]


def contextforge_or_reason(bench, levels) -> tuple[dict | None, str]:
    try:
        results, version = contextforge(bench, levels)
    except (RuntimeError, OSError, subprocess.SubprocessError, IndexError) as failure:
        with contextlib.suppress(Exception):
            bench.notes.append("ContextForge log: " + bench.children.log_tail("contextforge", 5).replace("\n", " | "))
        return None, f"ContextForge not measured: {str(failure).splitlines()[0][:300]}"
    return results, f"ContextForge {version} ({CONTEXTFORGE_PACKAGE} from PyPI, one worker, its own virtual environment)"
