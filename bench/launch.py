"""Starting the benchmark's processes: Forge, the echo upstream, anything else; always ending them.

Shared by `bench/run.py`, `bench/compare.py` and `bench/observability.py`. Children are pinned to
a core, log to a file in the run's temporary folder, and are ended on exit, Ctrl-C, SIGTERM or an
error (and by the kernel if the benchmark itself is killed: PR_SET_PDEATHSIG). Forge is started
with `forge serve` the same way everywhere: AUTH_REQUIRED=false, SQLite in the given file, the
working directory a temporary folder (so no developer's `.env` is read), LOG_LEVEL=WARNING, memory
cache, and OUTBOUND_ALLOW=127.0.0.1 so its REST adapter may call the loopback echo upstream;
every other Forge setting in the environment is dropped, plugins' included, unless passed in
`extra`. Only loopback addresses.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FORGE_BIN = Path(sys.executable).with_name("forge")
START_TIMEOUT = 60.0
# Settings of plugins that read their own prefix (not fields of forge.settings.Settings).
PLUGIN_PREFIXES = ("OBSERVABILITY_", "AUDIT_", "OTEL_", "PROMETHEUS_", "LIMITS_", "FEDERATION_")


class Children:
    """The benchmark's child processes: started pinned to a core, always ended."""

    PR_SET_PDEATHSIG = 1

    def __init__(self, folder: Path):
        self.folder = folder
        self.running: list[tuple[str, subprocess.Popen]] = []
        self._libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None

    def _setup(self, core: int | None):
        libc = self._libc

        def setup():  # runs in the child between fork and exec
            if core is not None:
                os.sched_setaffinity(0, {core})
            if libc is not None:
                libc.prctl(self.PR_SET_PDEATHSIG, signal.SIGTERM)

        return setup

    def start(self, name: str, argv: list[str], core: int | None, env=None, cwd=None) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
        child = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=self._setup(core), start_new_session=True,
        )
        log.close()
        self.running.append((name, child))
        return child

    def run(self, argv: list[str], stdin: str, core: int | None, timeout: float) -> str:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout,
            preexec_fn=self._setup(core), start_new_session=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[1]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.folder / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self) -> None:
        for _, child in reversed(self.running):
            if child.poll() is None:
                child.terminate()
        for _, child in reversed(self.running):
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
        self.running.clear()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(
    child: subprocess.Popen, port: int, path: str, what: str, children: Children, name: str, timeout: float = START_TIMEOUT
) -> float:
    """Seconds until GET `path` answers 200; fails with the child's log when it does not."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if child.poll() is not None:
            raise RuntimeError(f"{what} exited with {child.returncode}:\n{children.log_tail(name)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                connection.close()
                return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {timeout:g} s:\n{children.log_tail(name)}")


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def is_forge_setting(name: str) -> bool:
    from forge.settings import Settings

    return name.lower() in Settings.model_fields or name.startswith(PLUGIN_PREFIXES)


def forge_env(database: Path, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmarked Forge (see the module docstring)."""
    env = {name: value for name, value in os.environ.items() if not is_forge_setting(name)}
    env.update(
        AUTH_REQUIRED="false", DATABASE_URL=f"sqlite:///{database}", PORT=str(port), HOST="127.0.0.1",
        LOG_LEVEL="WARNING", CACHE_TYPE="memory", OUTBOUND_ALLOW="127.0.0.1",
    )
    env.update(extra or {})
    return env


def start_forge(
    children: Children, name: str, database: Path, port: int, core: int | None, cwd: Path,
    server: str = "hypercorn", extra: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, float]:
    """`forge serve --server SERVER` on `port`; answers it and the seconds until /health answered."""
    argv = [str(FORGE_BIN), "serve", "--server", server]
    child = children.start(name, argv, core, env=forge_env(database, port, extra), cwd=cwd)
    seconds = wait_for_http(child, port, "/health", f"Forge ({name}, {server})", children, name)
    return child, seconds


def loaded_plugins(database: Path, cwd: Path) -> str:
    """The plugins a benchmarked Forge loads (`forge plugins`), for the report: every installed one,
    observability's metrics and middleware included when it is installed."""
    import json

    done = subprocess.run([str(FORGE_BIN), "plugins", "--json"], env=forge_env(database, 1), cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)
    try:
        return ", ".join(plugin["name"] for plugin in json.loads(done.stdout))
    except (ValueError, KeyError, TypeError):
        return f"unknown ({done.stderr.strip().splitlines()[-1:]})"


def start_echo(children: Children, port: int, core: int | None) -> subprocess.Popen:
    """The REST tool's upstream, `bench/echo.py`, ready to answer."""
    child = children.start("echo", [sys.executable, str(BENCH / "echo.py"), str(port)], core)
    wait_for_http(child, port, "/", "the echo server", children, "echo")
    return child
