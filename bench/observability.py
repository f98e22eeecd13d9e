"""What the observability plugin costs a tools/call: Forge without and with it, side by side in one run.

    .venv/bin/python bench/observability.py [--quick] [--duration S] [--rounds N]

Starts the echo upstream (`bench/echo.py`) and one Forge per variant, identical but for plugins
and logging, all pinned to the first core (only the one being measured is busy); the echo server
and the load generator (`bench/loadgen.py`) share the second core, as in `bench/run.py`:

- without:        PLUGINS_DISABLED=observability,audit
- with:           the plugin with its defaults: metrics, trace context carried through (no exporter
                  configured, so no span recorded), no access log
- with + log:     OBSERVABILITY_ACCESS_LOG=true LOG_LEVEL=INFO LOG_FORMAT=json: one JSON access
                  line per call, to a file
- with + OTLP:    OTEL_EXPORTER_OTLP_ENDPOINT set (to the echo server, which answers 200): spans
                  recorded, a SERVER and a CLIENT span per call, exported in batches
- with + audit:   AUDIT_TOOL_CALLS=true besides: every call buffered for the audit trail, written
                  in batches (the batch writer's CPU is Forge's too)

(a) Every variant serves the same REST echo tool through /mcp (the stateless 2026-07-28
envelope). The variants take turns, round after round (A B C ... A B C ...), at concurrency 1 and
32, so a noisy machine spreads over all of them; the report gives each variant's median over the
rounds and its overhead against "without": in calls/s, and in Forge's CPU time per call.
(b) The plugin's own cost, without Forge's HTTP server or the load generator to blur it: the
variants above (and one recording spans without exporting them) as gateways in this process, a
tools/call handed straight to each one's MCP engine, whose REST adapter calls the echo server;
batches of calls take turns, each batch's time including the export or write its calls left
behind; the best batch's CPU time per call is reported, and what each variant adds to "without",
in microseconds and as a share of (a)'s CPU per call at c=32.
Nothing is asserted. Children are ended on exit, Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import traceback
from functools import partial
from pathlib import Path

from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from launch import BENCH, FORGE_BIN, Children, free_port, start_echo, start_forge
from run import ECHO_TOOL, Api, machine_lines, modern, number, table

VARIANTS = {
    "without": {"PLUGINS_DISABLED": "observability,audit"},
    "with": {},
    "with + log": {"OBSERVABILITY_ACCESS_LOG": "true", "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"},
    "with + OTLP": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{echo_port}"},
    "with + audit": {"AUDIT_TOOL_CALLS": "true"},
}
CONCURRENCIES = (1, 32)
PREFIXES = ("OBSERVABILITY_", "AUDIT_", "OTEL_", "PROMETHEUS_")


class SideBySide:
    def __init__(self, folder: Path, warmup: float, duration: float):
        self.folder, self.warmup, self.duration = folder, warmup, duration
        self.children = Children(folder)
        usable = sorted(os.sched_getaffinity(0))
        self.forge_core, self.client_core = (usable[0], usable[1]) if len(usable) >= 2 else (None, None)
        self.echo_port = free_port()
        self.forges: dict[str, tuple[int, int]] = {}  # variant: (port, pid)
        self.echo_pid = 0

    def start(self) -> None:
        if self.client_core is not None:
            os.sched_setaffinity(0, {self.client_core})
        self.echo_pid = start_echo(self.children, self.echo_port, self.client_core).pid
        for number_, (variant, extra) in enumerate(VARIANTS.items()):
            port, home = free_port(), self.folder / f"forge-{number_}"
            home.mkdir()
            extra = {key: value.format(echo_port=self.echo_port) for key, value in extra.items()}
            forge, _ = start_forge(self.children, f"forge-{number_}", home / "forge.db", port, self.forge_core, home, extra=extra)
            Api(port).create_tool({**ECHO_TOOL, "url": f"http://127.0.0.1:{self.echo_port}/echo"})
            self.forges[variant] = (port, forge.pid)

    def load(self, variant: str, concurrency: int) -> dict:
        port, pid = self.forges[variant]
        headers, body = modern("tools/call", {"name": "echo", "arguments": {"text": "hello"}}, "echo")
        spec = {
            "mode": "load", "host": "127.0.0.1", "port": port, "path": "/mcp", "method": "POST",
            "headers": headers, "body": body, "expect": '"isError":false', "concurrency": concurrency,
            "warmup": self.warmup, "duration": self.duration, "max_requests": 1_000_000,
            "watch": {"forge": pid, "echo": self.echo_pid},
        }
        budget = self.warmup + self.duration + 120
        result = json.loads(
            self.children.run([sys.executable, str(BENCH / "loadgen.py")], json.dumps(spec), self.client_core, budget)
        )
        count = result["requests"]
        result["forge_cpu_ms"] = result["cpu_seconds"]["forge"] / count * 1000 if count else float("nan")
        result["forge_busy"] = result["cpu_seconds"]["forge"] / result["elapsed"] * 100 if result["elapsed"] else 0.0
        return result


async def in_process(folder: Path, rounds: int, echo_port: int, batch: int = 300) -> dict[str, float]:
    """(b): the best CPU microseconds per tools/call of each variant, over `rounds` x 10 batches.
    A batch's time includes writing out what its calls left behind (spans exported, audit rows
    written), so work put off to a background thread is counted too."""
    import asyncio
    import logging
    import time

    from forge.app import create_app
    from forge.contracts import ANONYMOUS
    from forge.logs import JsonFormatter
    from forge.mcp.context import Connection
    from forge.mcp.session import Session
    from forge.mcp.versions import LATEST_HANDSHAKE
    from forge.settings import Settings
    from forge_plugins.observability import observer_of
    from forge_plugins.observability.audit import audit_log_of

    log_file = logging.FileHandler(folder / "in-process-access.log")
    log_file.setFormatter(JsonFormatter())
    gateways, settle = {}, {}
    for number_, (variant, extra) in enumerate(IN_PROCESS.items()):
        for name in [name for name in os.environ if name.startswith(PREFIXES)]:
            del os.environ[name]
        os.environ.update({key: value.format(echo_port=echo_port) for key, value in extra.items()})
        settings = Settings(
            _env_file=None, auth_required=False, database_url=f"sqlite:///{folder / f'in-process-{number_}.db'}",
            outbound_allow=["127.0.0.1"],
            plugins_disabled=VARIANTS["without"]["PLUGINS_DISABLED"].split(",") if variant == "without" else [],
        )
        gateway = create_app(settings).gateway
        await gateway.start()
        if variant == "with + spans":
            observer_of(gateway).tracing.add_span_processor(SimpleSpanProcessor(Discard()))
        if variant == "with + OTLP":
            settle[variant] = partial(asyncio.to_thread, observer_of(gateway).tracing.provider.force_flush)
        if variant == "with + audit":
            settle[variant] = audit_log_of(gateway).flush
        await gateway.store.create("tools", {**ECHO_TOOL, "url": f"http://127.0.0.1:{echo_port}/echo"})
        await gateway.reload_catalog(announce=False)
        gateways[variant] = gateway
    for name in [name for name in os.environ if name.startswith(PREFIXES)]:
        del os.environ[name]
    access = logging.getLogger("forge.access")
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}
    best = dict.fromkeys(gateways, float("inf"))
    try:
        for _ in range(rounds * 10):
            for variant, gateway in gateways.items():
                logging_on = variant == "with + log"
                access.setLevel(logging.INFO if logging_on else logging.WARNING)
                if logging_on:
                    access.addHandler(log_file)
                session = Session(id="", principal=ANONYMOUS, server_id=None, protocol_version=LATEST_HANDSHAKE, initialized=True)
                connection = Connection(principal=ANONYMOUS, session=session, transport="streamable_http", headers={})
                started = time.process_time()  # every thread of this process: the exporter's, the audit's writer
                for _ in range(batch):
                    await gateway.engine.handle(dict(message), connection)
                if variant in settle:
                    await settle[variant]()
                best[variant] = min(best[variant], (time.process_time() - started) / batch * 1e6)
                access.removeHandler(log_file)
    finally:
        for gateway in gateways.values():
            await gateway.stop()
        log_file.close()
    return best


class Discard(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


IN_PROCESS = {
    "without": {},
    "with": {},
    "with + log": {"OBSERVABILITY_ACCESS_LOG": "true"},
    "with + spans": {},
    "with + OTLP": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{echo_port}"},
    "with + audit": {"AUDIT_TOOL_CALLS": "true", "AUDIT_FLUSH_SECONDS": "3600"},
}


def report_in_process(best: dict[str, float], http_cpu_ms: float) -> list[str]:
    base = best["without"]
    rows = [
        [variant, number(us, 1), "-" if variant == "without" else f"{us - base:+.1f}",
         "-" if variant == "without" else f"{(us - base) / (http_cpu_ms * 1000) * 100:+.1f}%"]
        for variant, us in best.items()
    ]
    lines = ["", "(b) in this process: a tools/call handed to the MCP engine, its REST adapter calling the echo server"]
    lines += table(["variant", "CPU us/call", "added us", f"added vs (a) without, c=32 ({http_cpu_ms:.3f} ms)"], rows)
    lines += [
        "with + log: the JSON access line written to a file; with + spans: both spans recorded, handed to an",
        "exporter that drops them; with + OTLP: exported to the echo server over OTLP/HTTP (protobuf, in the",
        "SDK's thread); with + audit: calls buffered and written to SQLite. A batch's time includes its export",
        "or its write.",
    ]
    return lines


def run(folder: Path, warmup: float, duration: float, rounds: int) -> list[str]:
    from echo import http_implementation

    bench = SideBySide(folder, warmup, duration)
    out = [
        "Forge tools/call without and with the observability plugin",
        *machine_lines((bench.forge_core, bench.client_core), http_implementation()),
        f"timing  : {warmup:g} s warm-up + {duration:g} s per measurement, {rounds} rounds of every variant in turn; "
        + "figures are medians over the rounds",
    ]
    try:
        bench.start()
        results: dict[tuple[str, int], list[dict]] = {}
        for _ in range(rounds):
            for concurrency in CONCURRENCIES:
                for variant in VARIANTS:
                    results.setdefault((variant, concurrency), []).append(bench.load(variant, concurrency))
        out += report(results)
        for name, child in bench.children.running:  # (b) runs in this process: Forge would only compete
            if name.startswith("forge-"):
                child.terminate()
                child.wait(15)
        best = asyncio.run(in_process(folder, rounds, bench.echo_port))
        out += report_in_process(best, statistics.median(r["forge_cpu_ms"] for r in results["without", 32]))
        errors = [f"{v} c={c}: {r['errors']} errors, first: {r['first_error']}"
                  for (v, c), runs in results.items() for r in runs if r["errors"]]
        if errors:
            out += ["", "problems seen:", *(f"  {line}" for line in errors)]
        load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
        out += ["", f"load average at the end: {load}"]
        return out
    finally:
        bench.children.stop_all()


def report(results: dict[tuple[str, int], list[dict]]) -> list[str]:
    def median(runs: list[dict], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    rows = []
    for concurrency in CONCURRENCIES:
        base = results["without", concurrency]
        base_rps, base_cpu = median(base, "rps"), median(base, "forge_cpu_ms")
        for variant in VARIANTS:
            runs = results[variant, concurrency]
            rps, cpu = median(runs, "rps"), median(runs, "forge_cpu_ms")
            first = variant == "without"
            rows.append([
                variant, str(concurrency), number(rps, 0), number(median(runs, "p50_ms"), 3),
                number(median(runs, "p99_ms"), 3), number(cpu, 3), number(median(runs, "forge_busy"), 0),
                "-" if first else f"{(base_rps / rps - 1) * 100:+.1f}%",
                "-" if first else f"{(cpu / base_cpu - 1) * 100:+.1f}%",
                " ".join(number(run["rps"], 0) for run in runs),
            ])
    lines = ["", "tools/call of the REST echo tool through /mcp (2026-07-28)"]
    lines += table(
        ["variant", "conc", "calls/s", "p50 ms", "p99 ms", "Forge CPU ms/call", "Forge core %",
         "time/call vs without", "CPU/call vs without", "calls/s of each round"],
        rows,
    )
    lines += [
        "time/call vs without: how much longer a call takes at that concurrency (1/throughput); CPU/call vs",
        "without: Forge's own CPU time per call, the figure least disturbed by other processes. With Forge",
        "core % near 100 (c=32) both say the same; far below it, the machine was busy with something else.",
    ]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 s per measurement instead of 3 s")
    parser.add_argument("--duration", type=float, help="seconds per measurement (overrides --quick)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every variant (default 3)")
    args = parser.parse_args(argv)
    if not FORGE_BIN.exists():
        parser.error(f"no `forge` command next to {sys.executable}; install Forge in this environment")
    duration = args.duration or (1.0 if args.quick else 3.0)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    folder = Path(tempfile.mkdtemp(prefix="forge-bench-observability-"))
    try:
        lines = run(folder, 0.2 if args.quick else 0.5, duration, max(1, args.rounds))
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - any failure ends the run, with its traceback
        traceback.print_exc()
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
