"""`forge serve --server hypercorn|uvicorn|granian --workers N`: the same gateway under each ASGI
server, and one readable line when a choice cannot work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import free_port

TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def environment(tmp_path, **extra) -> dict:
    return {**os.environ, "AUTH_REQUIRED": "false", "DATABASE_URL": f"sqlite:///{tmp_path / 'forge.db'}",
            "LOG_LEVEL": "WARNING", **extra}


@pytest.mark.parametrize("server", ["hypercorn", "uvicorn", "granian"])
def test_the_gateway_answers_under_each_server(tmp_path, rest_upstream, server):
    pytest.importorskip(server)
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "forge", "serve", "--server", server, "--port", str(port)],
        env=environment(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert child.poll() is None, child.stderr.read()
        created = httpx.post(url + "/tools", json={"name": "echo", "url": rest_upstream + "/echo"}, timeout=10)
        assert created.status_code == 201, created.text
        listed = httpx.post(url + "/rpc", json=TOOLS_LIST, timeout=10).json()
        assert [tool["name"] for tool in listed["result"]["tools"]] == ["echo"]
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(30)
    assert f"with {server}, 1 worker(s)" in child.stderr.read()


def test_more_workers_than_one_need_redis(tmp_path):
    done = subprocess.run([sys.executable, "-m", "forge", "serve", "--workers", "2"], check=False, env=environment(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "forge: WORKERS=2 needs CACHE_TYPE=redis: workers share catalog changes and sessions through Redis"
    ]


def test_a_server_that_is_not_installed_is_named_with_its_extra(tmp_path):
    # A `granian` module that cannot be imported stands in for one that is not installed.
    (tmp_path / "granian.py").write_text("raise ImportError('not installed')\n")
    env = environment(tmp_path, PYTHONPATH=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "forge", "serve", "--server", "granian"], check=False, env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "forge: --server granian needs granian installed: pip install 'forge-gateway[granian]'"
    )


def test_a_serving_process_collects_garbage_at_a_servers_pace(tmp_path, monkeypatch):
    """Server processes (any ASGI server's factory, and `forge serve`) raise CPython's collection
    thresholds; building an app alone (as tests do) leaves them as they were."""
    import gc

    import forge.app
    from forge.app import SERVER_GC_THRESHOLDS, app_factory
    from forge.settings import Settings

    set_to = []
    monkeypatch.setattr(gc, "set_threshold", lambda *values: set_to.append(values))
    forge.app.create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", auth_required=False))
    assert set_to == []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("forge.logs.configure_logging", lambda settings: None)  # the suite's logging stays
    monkeypatch.setattr("forge.app.create_app", lambda settings: "app")
    assert app_factory() == "app"
    assert set_to == [SERVER_GC_THRESHOLDS]
