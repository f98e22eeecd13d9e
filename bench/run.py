"""Forge's benchmark: one command, one run, every figure measured side by side.

    .venv/bin/python bench/run.py [--quick] [--duration S] [--tools N] [--py-spy DIR]

Starts three kinds of process and never asserts a time (the machine may be shared and noisy):
Forge (`forge serve`, SQLite in a temporary folder, AUTH_REQUIRED=false) pinned to the first
core; a raw-ASGI echo server under uvicorn (`bench/echo.py`) as the upstream of both tools, a
REST tool and an MCP one (its /mcp endpoint, registered as a gateway whose `echo` Forge imports
as `mcp.echo`), and the load generator (`bench/loadgen.py`, a tiny asyncio HTTP/1.1 client), both
on the second core, so Forge has a core to itself. It prints:

(a) tools/call throughput and p50/p99 latency at concurrency 1, 32 and 256: the REST tool through
    Forge's /rpc (plain JSON-RPC) and /mcp (the stateless 2026-07-28 envelope), against the same
    client calling the echo upstream directly; and the MCP tool through /rpc, against the same
    client posting to the MCP echo the very request Forge sends it. A level's five rows are
    measured in turns, round after round, so each Forge row and its direct row share the
    machine's quiet and busy spells. The direct rows are also the ceiling of the load generator,
    so a reader sees it is not what limits Forge.
(b) tools/list with 10, 1,000 and N (10,000) registered tools: the first page (500 tools at
    most) and a walk of every page. Tools past the first ten are bulk-inserted into the
    database; five more are then created through the REST API, which brings them live (each
    API write rebuilds the in-memory catalog), and both costs are reported.
(c) Forge's resident memory when idle, at start and at each catalog size.
(d) the same tools/call through ContextForge and through a bare relay (the practical ceiling),
    with Forge/ContextForge and Forge/ceiling ratios (`bench/compare.py`).
(e) with --servers: Forge under Hypercorn, uvicorn and Granian.
(f) Forge's memory with 10,000 open handshake-era sessions.

With --py-spy DIR, a flame graph of Forge is recorded during each tools/call run (py-spy on the
client core, so it perturbs the figures a little). Every loop is bounded by a count and a time; every child process is ended on exit, Ctrl-C or
error (and by the kernel if this process dies: PR_SET_PDEATHSIG). Only loopback addresses.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

from launch import BENCH, FORGE_BIN, Children, free_port, loaded_plugins, memory_mib, start_echo, start_forge

REPO = BENCH.parent
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
MODERN = "2026-07-28"
ARGUMENTS = {"text": "hello"}
API_WRITES_PER_STEP = 5
LEVELS = (1, 32, 256)  # tools/call concurrency
LATENCY_ROUNDS_FACTOR = 2  # concurrency 1 takes this many times the rounds (see Bench.side_by_side)
# The MCP echo (POST /mcp of bench/echo.py) as a gateway; Forge imports its tool `echo` under the
# name "<prefix>.<upstream name>".
MCP_GATEWAY = {"name": "echo_mcp", "transport": "streamable_http", "prefix": "mcp"}
MCP_TOOL = "mcp.echo"
IMPORT_TIMEOUT = 60.0  # seconds for Forge to import and serve the MCP echo's tool
# (a)'s rows: each one's label, and the direct row it is compared with (None: it is a direct row).
DIRECT_REST, DIRECT_MCP = "direct to echo", "direct to MCP echo"
BASELINES = {
    DIRECT_REST: None, "Forge /rpc": DIRECT_REST, "Forge /mcp 2026-07-28": DIRECT_REST,
    DIRECT_MCP: None, "Forge /rpc (MCP upstream)": DIRECT_MCP,
}


@dataclass(frozen=True)
class Plan:
    warmup: float
    duration: float
    tools: int
    max_requests: int = 1_000_000
    max_walks: int = 1_000
    rounds: int = 2  # each load measurement is taken this many times; the one with most calls/s is kept
    profile_dir: Path | None = None
    contextforge: bool = True
    servers: tuple[str, ...] = ()
    sessions: int = 10_000

    @property
    def sizes(self) -> list[int]:
        return sorted({10, *(n for n in (1_000,) if n < self.tools), self.tools})


# --- the machine ----------------------------------------------------------------------------------


def machine_lines(cores: tuple[int | None, int | None], echo_http: str) -> list[str]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    forge_core, client_core = cores
    layout = (
        f"Forge on core {forge_core}; echo upstream, load generator and this script on core {client_core}"
        if forge_core is not None else "not pinned (fewer than 2 usable cores)"
    )
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"machine : {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {model}, "
        f"load average {load} at start",
        f"software: Python {platform.python_version()} on {platform.system()} {platform.release()}, "
        f"Forge {commit.stdout.strip() or '?'}, echo = uvicorn + {echo_http}",
        f"layout  : {layout}",
    ]


# --- Forge's management API, for registering tools ------------------------------------------------


class Api:
    """Forge's management API over a fresh connection per request (Hypercorn drops idle ones)."""

    def __init__(self, port: int):
        self.port = port

    def post(self, path: str, payload: dict) -> tuple[int, dict]:
        return self.request("POST", path, payload)

    def request(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        headers = {"content-type": "application/json", "accept": "application/json"}
        try:
            connection.request(method, path, None if payload is None else json.dumps(payload), headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        return response.status, json.loads(body) if body else {}

    def create_tool(self, tool: dict) -> float:
        """Create a tool; answer the seconds it took."""
        started = time.perf_counter()
        status, body = self.post("/tools", tool)
        elapsed = time.perf_counter() - started
        if status != 201:
            raise RuntimeError(f"POST /tools answered {status}: {body}")
        return elapsed


def filler_tool(number: int, echo_url: str) -> dict:
    return {
        "name": f"bench_tool_{number:05d}",
        "description": f"Benchmark filler tool number {number}: echoes its arguments.",
        "url": echo_url,
        "method": "POST",
        "input_schema": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "Text to echo."}},
            "required": ["text"],
        },
    }


def bulk_insert(database: Path, tools: list[dict]) -> float:
    """Insert tool rows straight into Forge's SQLite store (one transaction); answer the seconds."""
    from sqlalchemy import create_engine, insert

    from forge.store.models import Tool

    rows = [
        {**tool, "id": uuid.uuid4().hex, "integration_type": "REST", "headers": {}, "annotations": {}, "enabled": True}
        for tool in tools
    ]
    engine = create_engine(f"sqlite:///{database}", connect_args={"timeout": 30})
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(insert(Tool), rows)
        return time.perf_counter() - started
    finally:
        engine.dispose()


# --- requests -------------------------------------------------------------------------------------


def rpc_body(method: str, params: dict) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def modern(method: str, params: dict, name: str | None = None) -> tuple[dict, dict]:
    """(headers, body) of a stateless 2026-07-28 request to /mcp."""
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    return headers, rpc_body(method, {**params, "_meta": meta})


def as_federation_sends(method: str, params: dict, name: str | None = None) -> tuple[dict, dict]:
    """(headers, body) of the request Forge's federation sends a 2026-07-28 upstream for a /rpc
    client's call: its routing headers, and a `_meta` naming Forge (federation) with the client's
    capabilities (none) and log level (a client that set none hears everything: "debug")."""
    from forge import __version__

    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "Forge (federation)", "version": __version__},
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/logLevel": "debug",
    }
    return headers, rpc_body(method, {**params, "_meta": meta})


def call_targets(echo_port: int, forge_port: int) -> dict[str, dict]:
    """(a)'s rows by label (in `BASELINES`' order): the load generator's target of each."""
    call = {"name": "echo", "arguments": ARGUMENTS}
    headers, body = modern("tools/call", call, "echo")
    upstream_headers, upstream_body = as_federation_sends("tools/call", call, "echo")
    return {
        DIRECT_REST: {"port": echo_port, "path": "/echo", "body": ARGUMENTS, "expect": '"echo":'},
        "Forge /rpc": {
            "port": forge_port, "path": "/rpc", "headers": {"Accept": "application/json"},
            "body": rpc_body("tools/call", call), "expect": '"isError":false',
        },
        "Forge /mcp 2026-07-28": {"port": forge_port, "path": "/mcp", "headers": headers, "body": body, "expect": '"isError":false'},
        DIRECT_MCP: {
            "port": echo_port, "path": "/mcp", "headers": upstream_headers, "body": upstream_body,
            "expect": '"isError":false',
        },
        "Forge /rpc (MCP upstream)": {
            "port": forge_port, "path": "/rpc", "headers": {"Accept": "application/json"},
            "body": rpc_body("tools/call", {**call, "name": MCP_TOOL}), "expect": '"isError":false',
        },
    }


class Bench:
    """One benchmark run: the processes, the plan, and the measurements taken so far."""

    def __init__(self, plan: Plan, folder: Path):
        self.plan = plan
        self.folder = folder
        self.children = Children(folder)
        usable = sorted(os.sched_getaffinity(0))
        self.forge_core, self.client_core = (usable[0], usable[1]) if len(usable) >= 2 else (None, None)
        self.echo_port, self.forge_port = free_port(), free_port()
        self.echo_url = f"http://127.0.0.1:{self.echo_port}/echo"
        self.mcp_echo_url = f"http://127.0.0.1:{self.echo_port}/mcp"
        self.gateway_id: str | None = None
        self.database = folder / "bench.db"
        self.forge: subprocess.Popen | None = None
        self.echo: subprocess.Popen | None = None
        self.api: Api | None = None
        self.tool_count = 0
        self.notes: list[str] = []

    # --- lifecycle ---

    def start(self) -> float:
        if self.client_core is not None:
            os.sched_setaffinity(0, {self.client_core})
        self.echo = start_echo(self.children, self.echo_port, self.client_core)
        return self.start_forge()

    def start_forge(self) -> float:
        """Start Forge (again, after `stop_forge`); answer the seconds until /health answered."""
        self.forge, seconds = start_forge(self.children, "forge", self.database, self.forge_port, self.forge_core, self.folder)
        self.api = Api(self.forge_port)
        return seconds

    def stop(self) -> None:
        self.children.stop_all()

    def stop_forge(self) -> None:
        self.forge.terminate()
        self.forge.wait(30)
        self.children.running = [(name, child) for name, child in self.children.running if child is not self.forge]

    # --- measuring ---

    def load(self, target: dict, concurrency: int, label: str = "") -> dict:
        """One `load` run of the load generator against Forge, with the CPU Forge and the echo server spent."""
        return self.side_by_side([(self.forge, target)], concurrency, [label])[0]

    def side_by_side(self, rows: list[tuple[object, dict]], concurrency: int, labels: list[str] | None = None) -> list[dict]:
        """Each (serving process, target) of `rows` measured once a round, in turns, for `rounds`
        rounds; the fastest round of each row is kept (its CPU is counted on its own process).
        `labels` name the rows in notes and py-spy profiles.

        The best of `rounds`: a busy neighbour on a shared machine only ever slows a run down, so the
        fastest round is the one nearest to what the code costs (every row is treated alike). Taken
        in turns, rows compared in one ratio share the machine's quiet and busy spells alike. At
        concurrency 1, where one busy spell decides a row's latency, there are
        `LATENCY_ROUNDS_FACTOR` times as many rounds (each is short: one client)."""
        labels = labels or [""] * len(rows)
        best: list[dict | None] = [None] * len(rows)
        for round_number in range(self.plan.rounds * (LATENCY_ROUNDS_FACTOR if concurrency == 1 else 1)):
            for index, (serving, target) in enumerate(rows):
                label = labels[index]
                profiled = round_number == 0 and label and serving is self.forge and target["port"] == self.forge_port
                profiler = self._profile(f"{label}-c{concurrency}") if profiled else None
                result = self._loadgen(self._load_spec(serving, target, concurrency))
                if profiler is not None:
                    profiler.wait(30)
                kept = best[index]
                if kept is None or (result["rps"] > kept["rps"] and not result["errors"]):
                    best[index] = result
        for (serving, target), result, label in zip(rows, best, labels):
            count, spent = result["requests"], result["cpu_seconds"]
            for name in ("forge", "echo"):
                result[f"{name}_cpu_ms"] = spent[name] / count * 1000 if count else float("nan")
                result[f"{name}_busy"] = spent[name] / result["elapsed"] * 100 if result["elapsed"] else float("nan")
            if result["errors"]:
                served_by = next((name for name, child in self.children.running if child is serving), "?")
                self.notes.append(
                    f"{served_by}: {label or target['path']} c={concurrency}: {result['errors']} errors, first: {result['first_error']}"
                )
        return best

    def _load_spec(self, serving, target: dict, concurrency: int) -> dict:
        """The load generator's spec; `serving`'s CPU is reported as "forge", the echo's as "echo"."""
        return {
            "mode": "load", "host": "127.0.0.1", "method": "POST", "headers": {}, "concurrency": concurrency,
            "warmup": self.plan.warmup, "duration": self.plan.duration, "max_requests": self.plan.max_requests,
            **target, "watch": {"forge": serving.pid, "echo": self.echo.pid},
        }

    def _profile(self, name: str) -> subprocess.Popen | None:
        """With --py-spy: record Forge for the measured part of one run (py-spy on the client core)."""
        if self.plan.profile_dir is None:
            return None
        svg = self.plan.profile_dir / ("".join(c if c.isalnum() else "-" for c in name) + ".svg")
        seconds = max(1, int(self.plan.duration))
        argv = [PY_SPY, "record", "--nonblocking", "-r", "200", "-d", str(seconds), "-p", str(self.forge.pid), "-o", str(svg)]
        wrapper = f"sleep {self.plan.warmup}; exec " + " ".join(argv)
        return self.children.start(f"py-spy-{svg.stem}", ["sh", "-c", wrapper], self.client_core)

    def walk(self, method: str, key: str) -> dict:
        headers, body = modern(method, {})
        spec = {
            "mode": "walk", "host": "127.0.0.1", "port": self.forge_port, "path": "/mcp", "headers": headers,
            "body": body, "key": key, "duration": self.plan.duration, "max_walks": self.plan.max_walks,
        }
        result = self._loadgen(spec)
        if result["errors"]:
            self.notes.append(f"walk of {method}: {result['first_error']}")
        return result

    def _loadgen(self, spec: dict) -> dict:
        budget = spec.get("warmup", 0) + spec["duration"] + 120
        output = self.children.run([sys.executable, str(BENCH / "loadgen.py")], json.dumps(spec), self.client_core, budget)
        return json.loads(output)

    def idle_memory(self, settle: float = 1.0) -> tuple[float, float]:
        time.sleep(settle)
        return memory_mib(self.forge.pid)

    # --- the catalog ---

    def register_mcp_echo(self, timeout: float = IMPORT_TIMEOUT) -> float:
        """Register the MCP echo as a gateway and wait until Forge serves its tool; answer the seconds."""
        started = time.perf_counter()
        status, body = self.api.post("/gateways", {**MCP_GATEWAY, "url": self.mcp_echo_url})
        if status != 201:
            raise RuntimeError(f"POST /gateways answered {status}: {body}")
        self.gateway_id = body["id"]
        self.wait_for_mcp_tool(timeout)
        return time.perf_counter() - started

    def wait_for_mcp_tool(self, timeout: float = IMPORT_TIMEOUT) -> None:
        """Poll, for at most `timeout` seconds, until the imported tool is listed and a tools/call of
        it through /rpc answers (after a restart too: Forge reconnects its gateways at start-up,
        and the catalog hides an unconnected gateway's tools)."""
        call = rpc_body("tools/call", {"name": MCP_TOOL, "arguments": ARGUMENTS})
        deadline = time.monotonic() + timeout
        last = "nothing asked yet"
        while time.monotonic() < deadline:
            status, listed = self.api.request("GET", f"/tools?gateway_id={self.gateway_id}")
            names = [tool.get("name") for tool in listed.get("items") or ()] if status == 200 else []
            if MCP_TOOL not in names:
                last = f"GET /tools?gateway_id=... answered {status}, tools {names}"
            else:
                status, answer = self.api.post("/rpc", call)
                if status == 200 and (answer.get("result") or {}).get("isError") is False:
                    return
                last = f"tools/call of {MCP_TOOL!r} answered {status}: {json.dumps(answer)[:300]}"
            time.sleep(0.2)
        _, gateway = self.api.request("GET", f"/gateways/{self.gateway_id}")
        raise RuntimeError(
            f"Forge did not serve the MCP echo's tool {MCP_TOOL!r} within {timeout:g} s: gateway "
            f"{MCP_GATEWAY['name']!r} at {self.mcp_echo_url} is {gateway.get('state')!r} "
            f"(last error: {gateway.get('last_error')}); last seen: {last}"
        )

    def register_through_api(self, count: int) -> list[float]:
        seconds = []
        for _ in range(count):
            seconds.append(self.api.create_tool(filler_tool(self.tool_count, self.echo_url)))
            self.tool_count += 1
        return seconds

    def grow_catalog(self, target: int) -> dict:
        """Bulk-insert up to `target` less a few while Forge is stopped (a write behind Forge's back
        reaches its catalog at start-up), then create the last few through the API."""
        bulk = max(0, target - self.tool_count - API_WRITES_PER_STEP)
        tools = [filler_tool(self.tool_count + i, self.echo_url) for i in range(bulk)]
        restart = 0.0
        if tools:
            self.stop_forge()
            inserted = bulk_insert(self.database, tools)
            restart = self.start_forge()
            self.wait_for_mcp_tool()  # the imported tool counts in the lists (b) walks
        else:
            inserted = 0.0
        self.tool_count += bulk
        writes = self.register_through_api(target - self.tool_count)
        return {"bulk": bulk, "bulk_s": inserted, "restart_s": restart, "api": len(writes),
                "api_ms": [s * 1000 for s in writes]}


# --- the report -----------------------------------------------------------------------------------


def table(headings: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Columns padded to their widest cell; the first `left` columns left-aligned, the rest right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headings, *rows)]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i < left else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(headings), "  ".join("-" * w for w in widths), *(line(row) for row in rows)]


def number(value: float, digits: int = 2) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


ECHO_TOOL = {"name": "echo", "description": "Echo the arguments.", "method": "POST",
             "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}}}


def run(plan: Plan, folder: Path) -> list[str]:
    """Take every measurement; answer the report's lines."""
    import compare
    from echo import http_implementation

    bench = Bench(plan, folder)
    out = ["Forge benchmark", *machine_lines((bench.forge_core, bench.client_core), http_implementation())]
    out.append(
        f"timing  : {plan.warmup:g} s warm-up + {plan.duration:g} s per measurement (at most {plan.max_requests:,} "
        f"requests), the fastest of {plan.rounds} round(s) kept ({plan.rounds * LATENCY_ROUNDS_FACTOR} at concurrency 1); latency is per request, wall clock, at the client"
    )
    try:
        started_in = bench.start()
        memory = {"at start, empty catalog": bench.idle_memory()}
        writes = {"first": bench.api.create_tool({**ECHO_TOOL, "url": bench.echo_url}) * 1000}
        writes["gateway"] = bench.register_mcp_echo() * 1000
        bench.tool_count = 2  # the REST echo and the imported MCP one
        writes["small"] = [seconds * 1000 for seconds in bench.register_through_api(plan.sizes[0] - 2)]
        out += [f"start   : Forge answered /health {started_in:.2f} s after `forge serve` began",
                f"plugins : {loaded_plugins(bench.database, bench.folder)}", ""]

        calls = {}  # (a): a level's rows in turns, so that each Forge row and its direct row share the machine's moods
        targets = call_targets(bench.echo_port, bench.forge_port)
        for concurrency in LEVELS:
            results = bench.side_by_side([(bench.forge, target) for target in targets.values()], concurrency, list(targets))
            calls.update({(label, concurrency): result for label, result in zip(targets, results)})
        memory[f"after the tools/call runs, {plan.sizes[0]} tools"] = bench.idle_memory()
        out += report_calls(calls)
        comparison = compare_phase(bench, plan)  # (d), (e)

        lists, growth, calls_at = {}, {}, {}  # (b)
        headers, body = modern("tools/list", {})
        first_page = {"port": bench.forge_port, "path": "/mcp", "headers": headers, "body": body, "expect": '"tools":['}
        mcp_call = call_targets(bench.echo_port, bench.forge_port)["Forge /mcp 2026-07-28"]
        for size in plan.sizes:
            if size > bench.tool_count:
                growth[size] = bench.grow_catalog(size)
                memory[f"{size:,} tools"] = bench.idle_memory()
            lists[size] = (bench.load(first_page, 1), bench.walk("tools/list", "tools"))
            calls_at[size] = bench.load(mcp_call, 32)  # the call's cost at each size, measured alike
        out += report_lists(lists, calls_at[plan.sizes[0]], calls_at[plan.sizes[-1]])
        out += report_registration(writes, growth)

        out += ["", "(c) Forge's resident memory when idle (VmRSS, and its peak so far, VmHWM)"]
        out += table(["when", "RSS MiB", "peak MiB"], [[when, number(rss, 1), number(peak, 1)] for when, (rss, peak) in memory.items()])
        out += comparison
        if plan.sessions:  # (f), last: the sessions stay open
            out += compare.report_sessions(*compare.session_memory(bench, plan.sessions))
        load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
        out += ["", f"load average at the end: {load}"]
        if bench.notes:
            out += ["", "problems seen:", *(f"  {note}" for note in bench.notes)]
        return out
    finally:
        bench.stop()


def compare_phase(bench: Bench, plan: Plan) -> list[str]:
    """(d) ContextForge and the ceiling, each beside Forge's /rpc; (e) Forge under each server."""
    import compare

    comparisons, notes = {}, []
    if plan.contextforge:
        theirs, note = compare.contextforge_or_reason(bench, LEVELS)
        if theirs:
            comparisons["ContextForge"] = theirs
        notes.append(note)
    else:
        notes.append("ContextForge: skipped")
    comparisons["ceiling (uvicorn)"] = compare.ceiling(bench, LEVELS)
    comparisons["ceiling (Hypercorn)"] = compare.ceiling(bench, LEVELS, "hypercorn")
    out = compare.report_comparison(comparisons, [note for note in notes if note])
    if plan.servers:
        out += compare.report_servers(compare.servers(bench, list(plan.servers), LEVELS))
    return out


def report_calls(calls: dict) -> list[str]:
    out = ["(a) tools/call of a REST tool and of an MCP tool (imported from a gateway) whose upstream is the loopback",
           "    echo server, each vs the same client calling its upstream directly (x direct and +p50 against that row);",
           "    a level's rows measured in turns, round after round"]
    rows = []
    for (label, concurrency), result in calls.items():
        baseline = BASELINES[label]
        through_forge = baseline is not None
        direct = calls[baseline, concurrency] if through_forge else result
        rows.append([
            label, str(concurrency), number(result["rps"], 0), number(result["p50_ms"], 3), number(result["p99_ms"], 3),
            number(result["rps"] / direct["rps"], 3) if through_forge else "1",
            number(result["p50_ms"] - direct["p50_ms"], 3) if through_forge else "-",
            number(result["forge_cpu_ms"], 3) if through_forge else "-",
            number(result["forge_busy"], 0) if through_forge else "-",
            number(result["echo_cpu_ms"], 3), number(result["client_cpu_us"], 0), str(result["errors"]),
        ])
    out += table(
        ["path", "conc", "calls/s", "p50 ms", "p99 ms", "x direct", "+p50 ms", "Forge CPU ms/call", "Forge core %",
         "echo CPU ms/call", "client CPU us/call", "errors"],
        rows,
    )
    best = max(result["rps"] for (label, _), result in calls.items() if BASELINES[label] is not None)
    ceiling = max(calls[DIRECT_REST, 1]["rps"], calls[DIRECT_REST, 32]["rps"])
    out += [
        f"The direct rows are the load generator's own ceiling (client and echo sharing one core): {ceiling:,.0f} calls/s,",
        f"{ceiling / best:.1f}x Forge's best, so the client does not limit Forge. Forge core % near 100 means Forge was",
        "CPU-bound on its core; CPU ms/call is Forge's own CPU time per call (less sensitive to a noisy machine).",
        f"The MCP tool is {MCP_TOOL!r}, imported from the echo's /mcp (2026-07-28, stateless); {DIRECT_MCP!r} posts it",
        "the request Forge's federation sends for each call (its routing headers and _meta), so the MCP rows' x direct",
        "and +p50 are what federation adds.",
    ]
    starved = [result["forge_busy"] for (label, concurrency), result in calls.items() if BASELINES[label] is not None and concurrency > 1]
    if starved and min(starved) < 80:
        out.append(
            f"Note: at c=32 Forge had only {min(starved):.0f}% of its core: other processes shared it, so calls/s and "
            "latency are understated here; compare CPU ms/call."
        )
    return out


def report_lists(lists: dict, call_small: dict, call_top: dict) -> list[str]:
    out = ["", "(b) tools/list through /mcp (2026-07-28), 500 tools a page, one client (c=1); a walk follows nextCursor",
           "    through every page and is timed as the sum of its round trips (the client's JSON parsing left out)"]
    rows = []
    for size, (first, walk) in lists.items():
        rows.append([
            f"{size:,}", number(first["p50_ms"], 3), number(first["min_ms"], 3), number(first["p99_ms"], 3),
            number(first["response_bytes"] / 1024, 1), str(walk["pages"]),
            f"{walk['items']:,}" + ("" if walk["items"] == size else " (!)"),
            number(walk["p50_ms"], 2), number(walk["min_ms"], 2), number(walk["min_ms"] / max(walk["pages"], 1), 3),
            str(walk["walks"]),
        ])
    out += table(
        ["tools", "page 1 p50 ms", "min", "p99", "page 1 KiB", "pages", "walked", "walk p50 ms", "min",
         "min ms/page", "walks"],
        rows,
    )
    sizes = list(lists)
    smallest, largest = lists[sizes[0]], lists[sizes[-1]]
    out.append(
        f"First page with {sizes[0]:,} vs {sizes[-1]:,} tools: p50 {smallest[0]['p50_ms']:.3f} vs {largest[0]['p50_ms']:.3f} ms, "
        f"min {smallest[0]['min_ms']:.3f} vs {largest[0]['min_ms']:.3f} ms (the second is a full page, "
        f"{largest[0]['response_bytes'] / max(smallest[0]['response_bytes'], 1):.0f}x the bytes)."
    )
    full = [size for size in sizes if size >= 500]
    if len(full) >= 2:
        low, high = lists[full[0]], lists[full[-1]]

        def per_page(walk: dict, key: str) -> float:
            return walk[key] / walk["pages"]

        out.append(
            f"Full first page with {full[0]:,} vs {full[-1]:,} tools: {high[0]['p50_ms'] / low[0]['p50_ms']:.2f}x "
            f"(p50), {high[0]['min_ms'] / low[0]['min_ms']:.2f}x (min); per page over whole walks: "
            f"{per_page(high[1], 'p50_ms') / per_page(low[1], 'p50_ms'):.2f}x (p50), "
            f"{per_page(high[1], 'min_ms') / per_page(low[1], 'min_ms'):.2f}x (min). Flat = 1.00."
        )
    out.append(
        f"tools/call (/mcp, c=32) with {sizes[-1]:,} tools: {call_top['rps']:,.0f} calls/s, p50 {call_top['p50_ms']:.3f} ms, "
        f"{call_top['forge_cpu_ms']:.3f} ms Forge CPU/call, Forge core {call_top['forge_busy']:.0f}% (with {sizes[0]} tools: "
        f"{call_small['rps']:,.0f} calls/s, p50 {call_small['p50_ms']:.3f} ms, {call_small['forge_cpu_ms']:.3f} ms, "
        f"{call_small['forge_busy']:.0f}%)."
    )
    return out


def report_registration(writes: dict, growth: dict) -> list[str]:
    out = ["", "Registering the tools (each API write patches Forge's in-memory catalog; rows inserted behind its back",
           "are read at start-up, so Forge is restarted after each bulk insert)"]
    rows = [
        ["1 by POST /tools", "0 -> 1", number(writes["first"], 1), number(writes["first"], 0)],
        ["1 by POST /gateways (imported)", "1 -> 2", number(writes["gateway"], 1), number(writes["gateway"], 0)],
        [f"{len(writes['small'])} by POST /tools", f"2 -> {2 + len(writes['small'])}",
         number(statistics.median(writes["small"]), 1), number(sum(writes["small"]), 0)],
    ]
    before = 2 + len(writes["small"])
    for size, step in growth.items():
        bulk_to = before + step["bulk"]
        rows.append([f"{step['bulk']:,} by bulk SQL insert", f"{before:,} -> {bulk_to:,}", "-", number(step["bulk_s"] * 1000, 0)])
        rows.append(["  then Forge restarted", f"{bulk_to:,} loaded", "-", number(step["restart_s"] * 1000, 0)])
        rows.append([f"{step['api']} by POST /tools", f"{bulk_to:,} -> {size:,}",
                     number(statistics.median(step["api_ms"]), 1), number(sum(step["api_ms"]), 0)])
        before = size
    out += table(["tools added", "catalog", "median ms per API write", "total ms"], rows)
    total = writes["first"] + writes["gateway"] + sum(writes["small"]) + sum(step["bulk_s"] * 1000 + sum(step["api_ms"]) for step in growth.values())
    out.append(
        f"All {before:,} tools registered in {total / 1000:.2f} s (restarts left out). An API write costs the same with "
        "10 or 10,000 tools: it patches the catalog, it does not re-read it."
    )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 s per measurement instead of 3 s")
    parser.add_argument("--duration", type=float, help="seconds per measurement (overrides --quick)")
    parser.add_argument("--tools", type=int, default=10_000, help="largest catalog to list (default 10000)")
    parser.add_argument("--no-contextforge", dest="contextforge", action="store_false",
                        help="leave ContextForge out of (d) (it is installed into ~/.cache/forge-bench on first use)")
    parser.add_argument("--servers", default="", metavar="LIST",
                        help="(e): Forge under each of these servers, e.g. hypercorn,uvicorn,granian")
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions opened for (f); 0 leaves (f) out")
    parser.add_argument("--rounds", type=int,
                        help="take each load measurement this many times and keep the fastest (default 2; --quick: 1)")
    parser.add_argument("--py-spy", dest="profile_dir", type=Path, metavar="DIR",
                        help="write a py-spy flame graph of Forge for each tools/call run into DIR (needs py-spy)")
    args = parser.parse_args(argv)
    if args.profile_dir is not None:
        if not Path(PY_SPY).exists():
            parser.error("--py-spy needs py-spy on PATH (pip install py-spy)")
        args.profile_dir.mkdir(parents=True, exist_ok=True)
        args.profile_dir = args.profile_dir.resolve()
    if not FORGE_BIN.exists():
        parser.error(f"no `forge` command next to {sys.executable}; install Forge in this environment")
    if args.tools < 20:
        parser.error("--tools must be at least 20")
    duration = args.duration or (1.0 if args.quick else 3.0)
    plan = Plan(
        warmup=0.2 if args.quick else 0.5, duration=duration, tools=args.tools, profile_dir=args.profile_dir,
        contextforge=args.contextforge, servers=tuple(filter(None, args.servers.split(","))), sessions=args.sessions,
        rounds=max(1, args.rounds or (1 if args.quick else 2)),
    )
    # Ctrl-C and SIGTERM end the run through the `finally` that stops every child (SIGINT too, as
    # a shell starting this in the background may have set it to be ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    folder = Path(tempfile.mkdtemp(prefix="forge-bench-"))
    try:
        lines = run(plan, folder)
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        log = folder / "forge.log"
        if log.exists():
            print("\nthe last lines of Forge's log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
