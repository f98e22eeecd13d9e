"""Third-party plugins: what a plugin author can add or replace, through the same hooks the kernel's
own defaults use."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from aiocache import Cache
from click.testing import CliRunner
from pydantic_settings import BaseSettings, SettingsConfigDict
from quart import Blueprint

from forge.app import create_app
from forge.cli import build_cli
from forge.contracts import AdminPanel, AsgiRoute, InvocationRejected, Principal, Transport
from forge.hookspecs import hookimpl
from forge.plugins import PluginError, build_plugin_manager, describe_plugins
from forge.settings import SettingsError
from tests.conftest import forge_settings


def rpc(client: httpx.Client, method: str, params: dict | None = None, path: str = "/rpc", **kw) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    return client.post(path, json=body, **kw).json()


class EchoAdapter:
    """A tool adapter for integration type ECHO: answers the arguments it got."""

    def __init__(self):
        self.started = self.closed = False

    async def start(self):
        self.started = True

    async def invoke(self, tool, arguments, invocation):
        return {"content": [{"type": "text", "text": f"{tool['name']} got {dict(arguments)}"}], "isError": False}

    async def aclose(self):
        self.closed = True


class GuardrailPlugin:
    """Adds a route, an ECHO adapter and guardrails around tool calls."""

    def __init__(self):
        self.adapter = EchoAdapter()
        self.seen_calls = []

    @hookimpl
    def forge_blueprints(self, gateway):
        blueprint = Blueprint("hello_plugin", __name__)

        @blueprint.get("/hello")
        async def hello():
            return {"hello": "from a plugin"}

        return [blueprint]

    @hookimpl
    def forge_tool_adapters(self, gateway):
        return {"ECHO": self.adapter}

    @hookimpl
    def forge_before_tool_call(self, gateway, call):
        self.seen_calls.append(call.name)
        if call.arguments.get("secret"):
            raise InvocationRejected("secrets may not leave the building")
        return {**call.arguments, "stamped": True}

    @hookimpl
    async def forge_after_tool_call(self, gateway, call, result):
        await asyncio.sleep(0)  # async implementations are awaited
        text = result["content"][0]["text"]
        return {**result, "content": [{"type": "text", "text": text.upper()}]}


def test_a_plugin_adds_a_route_a_tool_adapter_and_guardrails(start_forge):
    plugin = GuardrailPlugin()
    forge = start_forge(plugins=[plugin])
    with httpx.Client(base_url=forge.url) as client:
        assert client.get("/hello").json() == {"hello": "from a plugin"}
        created = client.post("/tools", json={"name": "shout", "integration_type": "ECHO"})
        assert created.status_code == 201, created.text
        answer = rpc(client, "tools/call", {"name": "shout", "arguments": {"word": "hi"}})
        assert answer["result"]["content"][0]["text"] == "SHOUT GOT {'WORD': 'HI', 'STAMPED': TRUE}"
        refused = rpc(client, "tools/call", {"name": "shout", "arguments": {"secret": "x"}})
        assert refused["result"]["isError"] is True
        assert "secrets may not leave the building" in refused["result"]["content"][0]["text"]
    assert plugin.seen_calls == ["shout", "shout"]
    assert plugin.adapter.started
    forge.stop()
    assert plugin.adapter.closed


def test_without_its_adapter_an_integration_type_is_refused(api):
    response = api.post("/tools", json={"name": "shout", "integration_type": "ECHO"})
    assert response.status_code == 422
    assert "ECHO" in response.json()["error"]["message"]


class PromptAndResourceGuard:
    @hookimpl
    def forge_before_prompt_render(self, gateway, prompt, arguments, principal):
        return {**arguments, "user": arguments["user"].title()}

    @hookimpl
    def forge_after_prompt_render(self, gateway, prompt, result, principal):
        result["messages"][0]["content"]["text"] += " (checked)"
        return result

    @hookimpl
    def forge_before_resource_read(self, gateway, uri, principal):
        if uri.endswith("/secret"):
            raise InvocationRejected("not for you")
        return uri.replace("docs://old/", "docs://new/")

    @hookimpl
    def forge_after_resource_read(self, gateway, uri, result, principal):
        return {"contents": [{**c, "text": c["text"] + "!"} for c in result["contents"]]}


def test_invocation_hooks_rewrite_prompts_and_resources(start_forge):
    forge = start_forge(plugins=[PromptAndResourceGuard()])
    with httpx.Client(base_url=forge.url) as client:
        client.post("/prompts", json={"name": "greet", "template": "Hello, {{ user }}!"}).raise_for_status()
        client.post("/resources", json={"uri": "docs://new/readme", "content": "fresh"}).raise_for_status()
        prompt = rpc(client, "prompts/get", {"name": "greet", "arguments": {"user": "alice"}})
        assert prompt["result"]["messages"][0]["content"]["text"] == "Hello, Alice! (checked)"
        read = rpc(client, "resources/read", {"uri": "docs://old/readme"})
        assert read["result"]["contents"][0]["text"] == "fresh!"
        refused = rpc(client, "resources/read", {"uri": "docs://new/secret"})
        assert "not for you" in refused["error"]["message"]


class ApiKeyAuth:
    """Authentication and authorization replaced by a plugin: an X-Api-Key header, read-only keys."""

    @hookimpl
    def forge_authenticate(self, gateway, credentials):
        key = credentials.headers.get("x-api-key")
        if key == "reader":
            return Principal(name="reader", scopes=frozenset({"read"}), method="api-key")
        return None

    @hookimpl(tryfirst=True)
    async def forge_authorize(self, gateway, principal, action, target):
        if principal.name == "reader" and target == "prompts":
            return False  # this key may not even read prompts
        return None


def test_plugins_decide_who_is_calling_and_what_they_may_do(start_forge):
    forge = start_forge(plugins=[ApiKeyAuth()], auth_required=True)
    reader = {"x-api-key": "reader"}
    with httpx.Client(base_url=forge.url) as client:
        assert client.get("/tools").status_code == 401
        assert client.get("/tools", headers={"x-api-key": "wrong"}).status_code == 401
        assert client.get("/tools", headers=reader).status_code == 200
        assert client.get("/prompts", headers=reader).status_code == 403
        assert client.post("/tools", headers=reader, json={"name": "t", "url": "http://x"}).status_code == 403
        assert rpc(client, "ping", headers=reader) == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_auth_required_without_an_authentication_plugin_stops_start_up(tmp_path):
    # The admin UI authenticates its own session cookie, so it counts as an authentication plugin.
    settings = forge_settings(tmp_path, auth_required=True, plugins_disabled=["auth_basic_jwt", "admin_ui"])
    with pytest.raises(PluginError, match="no authentication plugin is installed"):
        create_app(settings)


class CountingCache:
    def __init__(self):
        self.cache = Cache(Cache.MEMORY)
        self.gets = 0

    @hookimpl
    def forge_cache(self, gateway):
        outer = self

        class Counting(type(self.cache)):
            async def get(self, key, *args, **kwargs):
                outer.gets += 1
                return await super().get(key, *args, **kwargs)

        return Counting()


def test_a_plugin_replaces_the_cache(start_forge):
    plugin = CountingCache()
    forge = start_forge(plugins=[plugin])
    with httpx.Client(base_url=forge.url) as client:
        client.post("/resources", json={"uri": "docs://a", "content": "A"}).raise_for_status()
        for _ in range(2):
            assert rpc(client, "resources/read", {"uri": "docs://a"})["result"]["contents"][0]["text"] == "A"
    assert plugin.gets == 2


class InMemoryStore:
    """A store plugin: replaces SQL entirely (here by wrapping the default, counting opens)."""

    def __init__(self, tmp_path):
        from forge.store.repository import Store

        self.inner = Store(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
        self.opened = 0

    @hookimpl
    def forge_store(self, gateway):
        store = self.inner
        original_open = store.open

        async def counted_open():
            self.opened += 1
            await original_open()

        store.open = counted_open
        return store


def test_a_plugin_replaces_the_store(start_forge, tmp_path):
    plugin = InMemoryStore(tmp_path)
    forge = start_forge(plugins=[plugin])
    assert forge.gateway.store is plugin.inner
    assert plugin.opened == 1
    assert (tmp_path / "other.db").exists()


class LifecyclePlugin:
    def __init__(self):
        self.events = []

    @hookimpl
    async def forge_startup(self, gateway):
        self.events.append(("startup", gateway.started))

    @hookimpl
    def forge_shutdown(self, gateway):
        self.events.append(("shutdown", True))


def test_lifecycle_hooks_run_once_each_and_may_be_async(start_forge):
    plugin = LifecyclePlugin()
    forge = start_forge(plugins=[plugin])
    forge.stop()
    assert plugin.events == [("startup", False), ("shutdown", True)]


class PluginSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GREETER_")
    greeting: str = "hello"
    repeat: int = 1


class SettingsPlugin:
    @hookimpl
    def forge_settings_sections(self):
        return PluginSettings


def test_plugins_contribute_their_own_settings_sections(tmp_path, monkeypatch):
    monkeypatch.setenv("GREETER_REPEAT", "3")
    app = create_app(forge_settings(tmp_path), plugins=[SettingsPlugin()])
    assert app.gateway.plugin_settings["PluginSettings"].repeat == 3
    monkeypatch.setenv("GREETER_REPEAT", "many")
    with pytest.raises(SettingsError, match="PluginSettings: invalid setting REPEAT"):
        create_app(forge_settings(tmp_path), plugins=[SettingsPlugin()])


class PanelsAndConnectors:
    def __init__(self, panel_id="metrics"):
        self.panel_id = panel_id

    @hookimpl
    def forge_admin_panels(self, gateway):
        async def render(gateway, request):
            return "<p>metrics</p>"

        return [AdminPanel(self.panel_id, "Metrics", render, order=50), AdminPanel("about", "About", render, order=900)]

    @hookimpl
    def forge_upstream_connectors(self, gateway):
        return {"carrier-pigeon": lambda record: None}


def test_admin_panels_and_upstream_connectors_are_collected_in_order(tmp_path):
    # Without the admin UI plugin, whose own panels (one of them "metrics") would join these.
    others = ["admin_ui", "federation"]  # the installed plugins' own panels
    app = create_app(forge_settings(tmp_path, plugins_disabled=others), plugins=[PanelsAndConnectors()])
    assert [panel.id for panel in app.gateway.admin_panels] == ["metrics", "about"]
    assert "carrier-pigeon" in app.gateway.upstream_connectors


class SecondPanels(PanelsAndConnectors):
    pass


def test_two_plugins_claiming_one_name_stop_start_up_with_one_line(tmp_path):
    with pytest.raises(PluginError, match="is claimed by both SecondPanels and PanelsAndConnectors"):
        create_app(forge_settings(tmp_path), plugins=[PanelsAndConnectors(), SecondPanels()])

    class SecondEcho(GuardrailPlugin):
        pass

    with pytest.raises(PluginError, match="tool integration type 'ECHO' is claimed by both"):
        create_app(forge_settings(tmp_path), plugins=[GuardrailPlugin(), SecondEcho()])


class MirrorTransport:
    """A transport plugin: a plain ASGI endpoint mounted in front of Quart."""

    def __init__(self, path="/mirror"):
        self.path = path

    @hookimpl
    def forge_transports(self, gateway):
        async def mirror(scope, receive, send):
            body = scope["path"].encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})

        return Transport(name=f"mirror{self.path}", routes=(AsgiRoute(self.path, mirror, "mirror"),))


def test_a_transport_plugin_mounts_asgi_routes_and_path_clashes_stop_start_up(start_forge, tmp_path):
    forge = start_forge(plugins=[MirrorTransport()])
    assert httpx.get(forge.url + "/mirror").text == "/mirror"
    with pytest.raises(PluginError, match="path '/mcp' is claimed by both mirror/mcp and streamable_http"):
        create_app(forge_settings(tmp_path), plugins=[MirrorTransport("/mcp")])


def test_disabled_plugins_are_not_loaded(tmp_path):
    app = create_app(forge_settings(tmp_path, plugins_disabled=["rest_adapter"]))
    assert "REST" not in app.gateway.adapters
    names = [p["name"] for p in describe_plugins(app.gateway.pm)]
    assert "rest_adapter" not in names and "streamable_http" in names
    with pytest.raises(PluginError, match="no plugin provides an entity store"):
        create_app(forge_settings(tmp_path, plugins_disabled=["sql_store"]))


def test_forge_plugins_lists_distributions_versions_and_hooks():
    described = {p["name"]: p for p in describe_plugins(build_plugin_manager())}
    assert described["streamable_http"]["hooks"] == ["forge_transports"]
    assert described["auth_basic_jwt"]["distribution"] == "forge-auth-basic-jwt"
    assert "forge_authenticate" in described["auth_basic_jwt"]["hooks"]
    result = CliRunner().invoke(build_cli(), ["plugins"], env={"PLUGINS_DISABLED": "admin_ui"})
    assert result.exit_code == 0, result.output
    assert "forge-auth-basic-jwt" in result.output and "admin_ui" not in result.output


class CommandPlugin:
    @hookimpl
    def forge_cli_commands(self, cli):
        @cli.command()
        def hello():
            """Say hello."""
            print("hello from a plugin command")


def test_plugins_add_cli_commands():
    result = CliRunner().invoke(build_cli([CommandPlugin()]), ["hello"])
    assert result.exit_code == 0
    assert "hello from a plugin command" in result.output
    assert "token" in CliRunner().invoke(build_cli(), ["--help"]).output


def test_a_settings_error_ends_a_command_with_one_line():
    result = CliRunner().invoke(build_cli(), ["db", "upgrade"], env={"PORT": "not-a-port", **os.environ})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["forge: invalid setting PORT: Input should be a valid integer, unable to parse string as an integer"]


class WriteWatcher:
    def __init__(self):
        self.changes = []

    @hookimpl
    async def forge_after_entity_write(self, gateway, kind, before, after, principal):
        self.changes.append((kind, before and before["name"], after and after["name"], principal.name))


def test_plugins_hear_about_every_committed_catalog_change(start_forge):
    watcher = WriteWatcher()
    forge = start_forge(plugins=[watcher])
    with httpx.Client(base_url=forge.url) as client:
        tool = client.post("/tools", json={"name": "t1", "url": "http://127.0.0.1:9/x"}).json()
        client.patch(f"/tools/{tool['id']}", json={"name": "t2"}).raise_for_status()
        client.post(f"/tools/{tool['id']}/disable").raise_for_status()
        assert client.post("/tools", json={"name": "t2", "url": "http://127.0.0.1:9/x"}).status_code == 409
        client.delete(f"/tools/{tool['id']}").raise_for_status()
    assert watcher.changes == [
        ("tools", None, "t1", "anonymous"),
        ("tools", "t1", "t2", "anonymous"),
        ("tools", "t2", "t2", "anonymous"),
        ("tools", "t2", None, "anonymous"),
    ]
