"""Behind a reverse proxy or load balancer named in TRUSTED_PROXIES, Forge sees the client the
proxy forwards for (X-Forwarded-For, read from the right) and the URL it reached
(X-Forwarded-Proto, X-Forwarded-Host): failed logins throttle that client only, and the RFC 9728
resource URL says https behind TLS termination. From any other peer those headers are ignored,
so a client cannot pick the address it is throttled under. Without the setting nobody is trusted."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from forge.asgi import ForgeAsgi
from forge.forwarded import REMEMBERED, TrustedProxies, parse_address
from forge.settings import SettingsError, load_settings

ACCEPT = {"accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
PROXY, OTHER_PEER = "127.0.0.1", "127.0.0.2"
METADATA = "/.well-known/oauth-protected-resource"


def request(peer: str = PROXY, kind: str = "http", **headers: str) -> dict:
    """An ASGI scope as the server hands it over: `headers` named with _ for -."""
    pairs = [(b"host", b"forge.internal:4444")]
    pairs += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    scheme = "http" if kind == "http" else "ws"
    return {"type": kind, "client": (peer, 50123), "scheme": scheme, "headers": pairs}


def seen(proxies: TrustedProxies, scope: dict) -> tuple[str, str, str]:
    """(client address, scheme, Host) of `scope` once the front door has rewritten it."""
    rewritten = proxies.rewrite(scope)
    return rewritten["client"][0], rewritten["scheme"], dict(rewritten["headers"])[b"host"].decode()


# --- the walk, scope by scope --------------------------------------------------------------------


def test_the_client_is_the_rightmost_address_a_trusted_proxy_did_not_write():
    proxies = TrustedProxies(["127.0.0.1"])
    # The client sent "6.6.6.6" itself; the proxy appended the address it saw.
    scope = request(x_forwarded_for="6.6.6.6, 203.0.113.7")
    assert seen(proxies, scope)[0] == "203.0.113.7"
    assert proxies.rewrite(scope)["client"] == ("203.0.113.7", 0)


def test_a_chain_of_trusted_proxies_is_walked_through():
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    assert proxies.client_of(PROXY, "6.6.6.6, 198.51.100.9, 10.0.0.5, 10.2.0.6") == ("198.51.100.9", 3)
    assert proxies.client_of(PROXY, "10.0.0.5, 10.2.0.6") == ("10.0.0.5", 3)  # all trusted: the farthest
    assert proxies.client_of(PROXY, "") == (PROXY, 1)


def test_a_value_that_is_not_an_address_stops_the_walk_at_the_last_trusted_hop():
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    assert proxies.client_of(PROXY, "203.0.113.7, unknown") == (PROXY, 1)
    assert proxies.client_of(PROXY, "unknown, 10.0.0.5") == ("10.0.0.5", 2)
    assert proxies.client_of(PROXY, "203.0.113.7, 10.0.0.5, ") == (PROXY, 1)  # an empty entry too
    assert proxies.client_of(PROXY, "203.0.113.7:x") == (PROXY, 1)
    for junk in ("_hidden", "[::1", "1.2.3.4.5", "2001:db8::1:80:x", "[]", "[::1]x"):
        assert parse_address(junk) is None, junk


def test_addresses_with_ports_and_ipv6():
    proxies = TrustedProxies(["2001:db8::/32", "127.0.0.1"])
    assert proxies.client_of("2001:db8::1", "2a00:1450::7") == ("2a00:1450::7", 1)
    assert proxies.client_of("2001:db8::1", "[2a00:1450::7]:443, 2001:db8:5::2") == ("2a00:1450::7", 2)
    assert proxies.client_of(PROXY, "203.0.113.7:51234") == ("203.0.113.7", 1)
    assert seen(proxies, request("2001:db8::1", x_forwarded_for="198.51.100.9"))[0] == "198.51.100.9"
    # A dual-stack socket reports an IPv4 peer as IPv4-mapped IPv6: still the trusted 127.0.0.1.
    assert seen(proxies, request("::ffff:127.0.0.1", x_forwarded_for="198.51.100.9"))[0] == "198.51.100.9"
    assert seen(proxies, request("2001:db9::1", x_forwarded_for="198.51.100.9"))[0] == "2001:db9::1"


def test_walks_are_remembered_within_bounds_a_client_cannot_grow():
    proxies = TrustedProxies(["127.0.0.1"])
    for number in range(REMEMBERED + 10):
        client = str(ipaddress.ip_address(number))
        assert proxies.client_of(PROXY, client) == (client, 1)
    assert proxies.client_of(PROXY, "203.0.113.7") == ("203.0.113.7", 1)
    long_chain = ", ".join(["10.0.0.1"] * 100 + ["203.0.113.7"])
    assert proxies.client_of(PROXY, long_chain) == ("203.0.113.7", 1)
    assert len(proxies._walks) <= REMEMBERED and long_chain not in proxies._walks


def test_header_lines_of_one_name_are_one_list():
    scope = request(x_forwarded_for="6.6.6.6")
    scope["headers"].append((b"x-forwarded-for", b"203.0.113.7"))
    assert seen(TrustedProxies(["127.0.0.1"]), scope)[0] == "203.0.113.7"


def test_an_untrusted_peer_or_an_empty_setting_leaves_the_request_as_it_came():
    scope = request(OTHER_PEER, x_forwarded_for="192.0.2.1", x_forwarded_proto="https", x_forwarded_host="a")
    assert TrustedProxies(["127.0.0.1"]).rewrite(scope) is scope
    assert not TrustedProxies([])
    assert ForgeAsgi(None, [], "", []).proxies is None  # the front door does not even look
    assert ForgeAsgi(None, [], "", ["10.0.0.0/8"]).proxies is not None


def test_scheme_and_host_come_from_the_trusted_proxy():
    proxies = TrustedProxies(["127.0.0.1"])
    assert seen(proxies, request(x_forwarded_proto="https", x_forwarded_host="gw.example")) == (
        PROXY, "https", "gw.example"
    )
    assert seen(proxies, request(kind="websocket", x_forwarded_proto="https"))[1] == "wss"
    # Values that are not a scheme or a host are not believed.
    assert seen(proxies, request(x_forwarded_proto="gopher", x_forwarded_host="evil.example/path?")) == (
        PROXY, "http", "forge.internal:4444"
    )
    # A proxy that appends: the client's own "http" is left of what the proxy wrote.
    assert seen(proxies, request(x_forwarded_proto="http, https"))[1] == "https"


def test_a_chain_reads_scheme_and_host_at_the_outermost_trusted_proxy():
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    # The TLS-terminating proxy 10.0.0.5 wrote "https"; the inner one appended its own "http".
    scope = request(x_forwarded_for="203.0.113.7, 10.0.0.5", x_forwarded_proto="https, http")
    assert seen(proxies, scope)[:2] == ("203.0.113.7", "https")
    # A chain whose proxies overwrite rather than append: the one value stands.
    scope = request(x_forwarded_for="203.0.113.7, 10.0.0.5", x_forwarded_proto="https", x_forwarded_host="a")
    assert seen(proxies, scope) == ("203.0.113.7", "https", "a")


def test_an_entry_that_is_not_an_address_or_network_stops_start_up_naming_the_setting():
    with pytest.raises(SettingsError, match=r"TRUSTED_PROXIES: .*'proxy\.internal' is neither an IP address"):
        load_settings(trusted_proxies="10.0.0.0/8, proxy.internal", _env_file=None)
    settings = load_settings(trusted_proxies="10.0.0.0/8, ::1,192.168.1.7", _env_file=None)
    assert settings.trusted_proxies == ["10.0.0.0/8", "::1", "192.168.1.7"]
    assert load_settings(_env_file=None).trusted_proxies == []


# --- a real gateway ------------------------------------------------------------------------------


def from_address(forge, address: str) -> httpx.Client:
    return httpx.Client(base_url=forge.url, transport=httpx.HTTPTransport(local_address=address), timeout=10)


def fail_logins(client: httpx.Client, forwarded_for: str | None, times: int) -> None:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    for attempt in range(times):
        assert client.get("/tools", auth=("admin", f"guess-{attempt}"), headers=headers).status_code == 401


def test_behind_a_trusted_proxy_failed_logins_throttle_the_client_not_the_proxy(start_forge, monkeypatch):
    monkeypatch.setenv("AUTH_MAX_FAILURES", "3")
    forge = start_forge(auth_required=True, basic_auth_password="right", trusted_proxies=[PROXY])
    with from_address(forge, PROXY) as proxy:
        fail_logins(proxy, "6.6.6.6, 203.0.113.7", 3)
        client_a = {"x-forwarded-for": "203.0.113.7"}
        assert proxy.get("/tools", auth=("admin", "right"), headers=client_a).status_code == 429
        rpc = proxy.post("/rpc", json=PING, headers={**ACCEPT, **client_a}, auth=("admin", "right"))
        assert rpc.status_code == 429
        # Another client behind the same proxy, and the spoofed leftmost address, are not locked out.
        for other in ("198.51.100.9", "203.0.113.7, 6.6.6.6"):
            client_b = {"x-forwarded-for": other}
            assert proxy.get("/tools", auth=("admin", "right"), headers=client_b).status_code == 200, other
            rpc = proxy.post("/rpc", json=PING, headers={**ACCEPT, **client_b}, auth=("admin", "right"))
            assert rpc.status_code == 200, other


def test_x_forwarded_for_from_an_untrusted_peer_does_not_dodge_throttling(start_forge, monkeypatch):
    monkeypatch.setenv("AUTH_MAX_FAILURES", "3")
    for trusted in ([], [PROXY]):  # nobody trusted; a proxy trusted, but not this peer
        forge = start_forge(auth_required=True, basic_auth_password="right", trusted_proxies=trusted)
        with from_address(forge, OTHER_PEER) as guesser:
            fail_logins(guesser, "203.0.113.7", 3)
            fresh = {"x-forwarded-for": "198.51.100.9"}
            assert guesser.get("/tools", auth=("admin", "right"), headers=fresh).status_code == 429, trusted
            mcp = guesser.post("/mcp", json=PING, headers={**ACCEPT, **fresh}, auth=("admin", "right"))
            assert mcp.status_code == 429, trusted


async def test_the_resource_url_is_https_when_a_trusted_proxy_terminates_tls(start_forge):
    forge = start_forge(auth_required=True, trusted_proxies=[PROXY])
    behind_tls = {
        "x-forwarded-proto": "https", "x-forwarded-host": "gw.example", "x-forwarded-for": "203.0.113.7",
    }
    expected = 'Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource"'
    with from_address(forge, PROXY) as proxy:
        answer = proxy.post("/mcp", json=PING, headers={**ACCEPT, **behind_tls})
        assert (answer.status_code, answer.headers["www-authenticate"]) == (401, expected)
        assert proxy.get(METADATA + "/mcp", headers=behind_tls).json()["resource"] == "https://gw.example/mcp"
        only_proto = proxy.get(METADATA, headers={"x-forwarded-proto": "https"}).json()
        assert only_proto["resource"] == f"https://127.0.0.1:{forge.port}"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(forge.url.replace("http", "ws") + "/ws", additional_headers=behind_tls):
            pass
    assert refused.value.response.headers["www-authenticate"] == expected

    # The same headers from a peer that is not a trusted proxy change nothing.
    with from_address(forge, OTHER_PEER) as stranger:
        answer = stranger.post("/mcp", json=PING, headers={**ACCEPT, **behind_tls})
        assert answer.headers["www-authenticate"] == f'Bearer resource_metadata="{forge.url}{METADATA}"'
        assert stranger.get(METADATA + "/mcp", headers=behind_tls).json()["resource"] == forge.url + "/mcp"
