"""The outbound guard: Forge calls loopback, private, link-local and metadata addresses only when
OUTBOUND_ALLOW admits them, checked after name resolution and on every redirect hop.

No test here sends a packet to any address but loopback, even with the guard broken: names are
resolved by stubs (never by DNS), and the clients connect through recorders that note every
non-loopback address they are asked for and refuse it. Through a real Forge, the refused
upstreams are loopback ones (refused because the test's Forge admits nothing).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import unquote

import aiohttp
import httpcore
import httpcore2
import httpx
import httpx2
import pytest

from forge.defaults.rest_adapter import RestAdapter
from forge.outbound import OutboundPolicy, OutboundRefused, refusal_reason
from forge.settings import SettingsError, load_settings
from forge_plugins.federation.connectors import Connectors
from forge_plugins.federation.http_session import HttpSession
from forge_plugins.federation.wire import UpstreamUnavailable
from tests.http_stub import StubHandler, StubServer

# What the stubbed name service answers; a name not here fails to resolve (no DNS is asked).
NAMES = {
    "public.test": ["93.184.216.34"],
    "private.test": ["10.0.0.5"],
    "ula.test": ["fd12:3456::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "metadata6.test": ["fd00:ec2::254"],
    "linklocal.test": ["fe80::1"],
    "cgnat.test": ["100.64.0.7"],
    "rebind.test": ["93.184.216.34", "10.0.0.5"],  # a public and a private answer together
    "api.corp.test": ["10.1.1.1"],
}

REFUSED = [
    ("http://private.test/", "10.0.0.5", "a private address"),
    ("http://ula.test/", "fd12:3456::1", "a private address"),
    ("http://mapped.test/", "::ffff:7f00:1", "the IPv6 form of 127.0.0.1, a loopback address"),
    ("http://metadata.test/latest/meta-data", "169.254.169.254", "a cloud metadata address"),
    ("http://metadata6.test/", "fd00:ec2::254", "a cloud metadata address"),
    ("http://linklocal.test/", "fe80::1", "a link-local address"),
    ("http://cgnat.test/", "100.64.0.7", "a shared (CGNAT) address"),
    ("http://rebind.test/", "10.0.0.5", "a private address"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254", "a cloud metadata address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254", "a cloud metadata address"),
    ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe", "the IPv6 form of 169.254.169.254, a cloud metadata address"),
    ("http://0.0.0.0:8080/", "0.0.0.0", "an unspecified address"),
    ("http://[::]/", "::", "an unspecified address"),
    ("http://10.20.30.40/", "10.20.30.40", "a private address"),
    ("http://224.0.0.1/", "224.0.0.1", "a multicast address"),
]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "the IPv6 form of 127.0.0.1, a loopback address"),
        ("64:ff9b::a9fe:a9fe", "the IPv6 form of 169.254.169.254, a cloud metadata address"),  # NAT64
        ("2002:a00:1::", "the IPv6 form of 10.0.0.1, a private address"),  # 6to4 around 10.0.0.1
        ("::127.0.0.1", "a reserved address"),  # IPv4-compatible, deprecated
        ("192.168.1.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("169.254.10.10", "a link-local address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_every_kind_of_internal_address_is_named(address, reason):
    assert refusal_reason(ipaddress.ip_address(address)) == reason


# --- stubs: a name service and connections that record instead of leaving the machine ------------


class StubResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver, answering from NAMES."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        if host not in NAMES:
            raise OSError(f"{host} is not a stubbed name")
        return [
            {"hostname": host, "host": address, "port": port, "proto": 0, "flags": 0,
             "family": socket.AF_INET6 if ":" in address else socket.AF_INET}
            for address in NAMES[host]
        ]

    async def close(self):
        pass


async def stub_getaddrinfo(host, port, **_):
    if host not in NAMES:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} is not a stubbed name")
    return [
        (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
        for address in NAMES[host]
    ]


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_loopback


class Recorder:
    """Where clients were asked to connect; only loopback connections are made."""

    def __init__(self):
        self.addresses: list[str] = []

    def socket_factory(self, addr_info) -> socket.socket:  # aiohttp's connector
        family, kind, proto, _, address = addr_info
        if not is_loopback(address[0]):
            self.addresses.append(address[0])
            raise OSError(errno.ECONNREFUSED, "the test connects to loopback only")
        return socket.socket(family, kind, proto)

    def backend(self, inner, connect_error):  # an httpcore network backend
        recorder = self

        class Recording:
            async def connect_tcp(self, host, port, **options):
                if not is_loopback(host):
                    recorder.addresses.append(host)
                    raise connect_error("the test connects to loopback only")
                return await inner.connect_tcp(host, port, **options)

            async def connect_unix_socket(self, *args, **options):
                raise connect_error("not in these tests")

            async def sleep(self, seconds):
                await inner.sleep(seconds)

        return Recording()


def record_under(transport, recorder: Recorder, connect_error):
    """Swap the connecting backend under a guarded httpx transport for a recorder (the guard
    itself stays as production builds it)."""
    guarded = transport._pool._network_backend
    guarded.inner = recorder.backend(guarded.inner, connect_error)
    return transport


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def redirector():
    """A loopback server answering every GET with a redirect to the URL its path names."""

    class Redirect(StubHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("location", unquote(self.path[1:]))
            self.send_header("content-length", "0")
            self.end_headers()

    stub = StubServer(Redirect)
    yield stub.url + "/"
    stub.close()


def aiohttp_session(policy: OutboundPolicy, recorder: Recorder) -> aiohttp.ClientSession:
    return policy.aiohttp_session(resolver=StubResolver(), connector={"socket_factory": recorder.socket_factory})


def httpx_client(policy: OutboundPolicy, recorder: Recorder, **options) -> httpx.AsyncClient:
    transport = policy.guard_httpx(httpx.AsyncHTTPTransport(), httpcore.ConnectError)
    return httpx.AsyncClient(transport=record_under(transport, recorder, httpcore.ConnectError), **options)


# --- aiohttp: the REST adapter's client ---------------------------------------------------------


@pytest.mark.parametrize(("url", "address", "reason"), REFUSED)
async def test_aiohttp_refuses_internal_addresses(recorder, url, address, reason):
    async with aiohttp_session(OutboundPolicy(), recorder) as session:
        with pytest.raises(OutboundRefused) as refused:
            await session.get(url)
    assert refused.value.address == address
    assert f"{address}: {reason}" in str(refused.value) or f"({address}): {reason}" in str(refused.value)
    assert "OUTBOUND_ALLOW" in str(refused.value)
    assert recorder.addresses == []


async def test_aiohttp_connects_to_the_address_it_checked(recorder):
    async with aiohttp_session(OutboundPolicy(), recorder) as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get("http://public.test/")
    assert recorder.addresses == ["93.184.216.34"]


async def test_the_allow_list_admits_networks_and_host_names(recorder):
    policy = OutboundPolicy(["10.0.0.0/8", "169.254.169.254", "*.corp.test"])
    async with aiohttp_session(policy, recorder) as session:
        for url in ("http://private.test/", "http://10.9.9.9/", "http://metadata.test/", "http://api.corp.test/"):
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.get(url)
        with pytest.raises(OutboundRefused):  # fd00:ec2::254 is not admitted
            await session.get("http://metadata6.test/")
    assert recorder.addresses == ["10.0.0.5", "10.9.9.9", "169.254.169.254", "10.1.1.1"]


@pytest.mark.parametrize(
    "target", ["http://metadata.test/latest", "http://169.254.169.254/latest", "http://[::ffff:a9fe:a9fe]/"]
)
async def test_aiohttp_checks_every_redirect_hop(recorder, redirector, target):
    policy = OutboundPolicy(["127.0.0.1/32"])
    async with aiohttp_session(policy, recorder) as session:
        with pytest.raises(OutboundRefused, match="169.254.169.254"):
            await session.get(redirector + target)
    assert recorder.addresses == []


async def test_a_rest_tool_to_a_refused_address_answers_a_tool_error(recorder):
    policy = OutboundPolicy()
    adapter = RestAdapter(5, policy)
    adapter.client = aiohttp_session(policy, recorder)
    try:
        tool = {"name": "metadata", "url": "http://metadata.test/latest/meta-data", "method": "GET"}
        result = await adapter.invoke(tool, {})
    finally:
        await adapter.aclose()
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert text.startswith("Tool 'metadata': refused to connect to metadata.test (169.254.169.254)")
    assert "OUTBOUND_ALLOW" in text
    assert recorder.addresses == []


# --- httpx and httpx2: federation and the OpenAPI import ---------------------------------------


@pytest.mark.parametrize(("url", "address", "reason"), REFUSED)
async def test_httpx_refuses_internal_addresses(recorder, url, address, reason):
    policy = OutboundPolicy(getaddrinfo=stub_getaddrinfo)
    async with httpx_client(policy, recorder) as client:
        with pytest.raises(OutboundRefused) as refused:
            await client.get(url)
    assert refused.value.address == address and reason in str(refused.value)
    assert recorder.addresses == []


async def test_httpx_connects_to_the_address_it_checked_and_redirects_are_checked(recorder, redirector):
    policy = OutboundPolicy(["127.0.0.1"], getaddrinfo=stub_getaddrinfo)
    async with httpx_client(policy, recorder, follow_redirects=True) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://public.test/")
        with pytest.raises(httpx.ConnectError, match="cannot resolve nowhere.test"):
            await client.get("http://nowhere.test/")
        for target in ("http://metadata.test/", "http://[fd00:ec2::254]/", "http://rebind.test/"):
            with pytest.raises(OutboundRefused):
                await client.get(redirector + target)
    assert recorder.addresses == ["93.184.216.34"]


async def test_a_federated_http_upstream_at_a_refused_address_is_unavailable(recorder):
    session = HttpSession(
        "http://private.test/mcp", {}, info={"name": "t", "version": "1"}, timeout=5, policy=OutboundPolicy(),
        resolver=StubResolver(), connector={"socket_factory": recorder.socket_factory},
    )
    try:
        with pytest.raises(UpstreamUnavailable, match=r"private\.test \(10\.0\.0\.5\).*OUTBOUND_ALLOW"):
            await session.request("ping", {}, timeout=5)
    finally:
        await session.close()
    assert recorder.addresses == []


async def test_the_sdk_clients_of_federation_are_guarded_too(recorder, redirector):
    policy = OutboundPolicy(["127.0.0.1"], getaddrinfo=stub_getaddrinfo)
    connectors = Connectors({"name": "t", "version": "1"}, 5, policy)
    client = connectors._httpx2_client(headers={"x-test": "1"})
    record_under(client._transport, recorder, httpcore2.ConnectError)
    async with client:
        with pytest.raises(OutboundRefused, match="169.254.169.254"):
            await client.get("http://metadata.test/")
        with pytest.raises(OutboundRefused, match="10.0.0.5"):
            await client.get(redirector + "http://private.test/", follow_redirects=True)
        with pytest.raises(httpx2.ConnectError):
            await client.get("http://public.test/")
    assert recorder.addresses == ["93.184.216.34"]
    with pytest.raises(OutboundRefused, match="fe80::1"):
        async with connectors.sse({"url": "http://linklocal.test/sse"}):
            pass


# --- a real Forge that admits nothing, calling loopback upstreams --------------------------------


def rpc(client: httpx.Client, method: str, params: dict) -> dict:
    answer = client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_forge_refuses_what_outbound_allow_does_not_admit(start_forge, rest_upstream):
    forge = start_forge(outbound_allow=[])
    with httpx.Client(base_url=forge.url, timeout=30) as client:
        created = client.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo", "method": "GET"})
        assert created.status_code == 201, created.text
        result = rpc(client, "tools/call", {"name": "echo", "arguments": {}})["result"]
        assert result["isError"] is True
        assert result["content"][0]["text"] == (
            "Tool 'echo': refused to connect to 127.0.0.1: a loopback address; "
            "add it to OUTBOUND_ALLOW to let Forge call it"
        )

        imported = client.post("/tools/import/openapi", json={"url": rest_upstream + "/openapi.json"})
        assert imported.status_code == 422
        error = imported.json()["error"]
        assert error["code"] == "outbound_refused"
        assert "127.0.0.1: a loopback address" in error["message"] and "OUTBOUND_ALLOW" in error["message"]

        gateway = client.post("/gateways", json={"name": "inside", "url": rest_upstream + "/mcp"})
        assert gateway.status_code == 201, gateway.text
        assert gateway.json()["state"] == "unhealthy"
        assert "127.0.0.1: a loopback address" in gateway.json()["last_error"]
        assert "OUTBOUND_ALLOW" in gateway.json()["last_error"]


def test_outbound_allow_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("OUTBOUND_ALLOW", "127.0.0.1/32, ::1,10.0.0.0/8,*.corp.example")
    settings = load_settings(_env_file=None)
    assert settings.outbound_allow == ["127.0.0.1/32", "::1", "10.0.0.0/8", "*.corp.example"]
    policy = OutboundPolicy.of(settings)
    assert policy.refusal("db.corp.example", "10.1.2.3") is None
    assert policy.refusal("10.0.0.1", "10.0.0.1") is None
    assert policy.refusal("192.168.0.1", "192.168.0.1") is not None
    monkeypatch.setenv("OUTBOUND_ALLOW", "10.0.0.0/33")
    with pytest.raises(SettingsError, match="OUTBOUND_ALLOW.*10.0.0.0/33"):
        load_settings(_env_file=None)


async def test_the_websocket_connector_connects_only_to_a_checked_address(monkeypatch):
    from forge_plugins.transport_ws import client as ws_client

    asked: list[str] = []

    async def recording_connect(url, *, host, **options):  # instead of the library's connect
        asked.append(host)
        raise OSError(errno.ECONNREFUSED, "the test connects nowhere")

    monkeypatch.setattr(ws_client, "connect", recording_connect)
    connector = ws_client.WebSocketConnector(
        {"name": "t", "version": "1"}, 5, 1 << 20, OutboundPolicy(getaddrinfo=stub_getaddrinfo)
    )
    with pytest.raises(OutboundRefused, match=r"metadata\.test \(169\.254\.169\.254\)"):
        async with connector({"url": "ws://metadata.test/ws"}):
            pass
    with pytest.raises(OSError, match="connects nowhere"):
        async with connector({"url": "wss://public.test/ws"}):
            pass
    assert asked == ["93.184.216.34"]
