"""Who the client really is when Forge sits behind a trusted reverse proxy or load balancer.

Layer: kernel, HTTP edge. The front door (`forge.asgi.ForgeAsgi`) calls `TrustedProxies.rewrite`
once per request, before anything reads the scope. When the TCP peer is one of TRUSTED_PROXIES,
the scope's `client`, `scheme` and `Host` header are replaced by what the proxies reported in
`X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`, so everything downstream — the MCP
transports' `Credentials.client_address` and resource URL, Quart's `request.remote_addr`,
`request.scheme` and `request.host`, failed-login throttling, logs — sees the real client and
the URL it reached. A request from any other peer is passed on untouched, its forwarding headers
ignored: anyone can send them, only a proxy we trust may be believed.

`X-Forwarded-For` is read from the right: each proxy appends the address it was connected from,
so the entries a client sent itself are the leftmost. Trusted proxies are skipped; the first
address that is not one is the client. An entry that is not an IP address stops the walk, and
the last trusted hop is taken as the client (never a value we cannot parse). `X-Forwarded-Proto`
and `X-Forwarded-Host` are read at the hop where the walk stopped: with proxies that append, the
entry the outermost trusted proxy wrote; with proxies that overwrite (one entry), that entry.

RFC 7239 `Forwarded` is not read: the proxies Forge is deployed behind (nginx, HAProxy, Traefik,
Caddy, Envoy, cloud load balancers) all send the X-Forwarded-* headers, and believing two
headers that may disagree would only add ways to be wrong.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
REMEMBERED = 4096  # peers' verdicts, and X-Forwarded-For walks, kept at most; a full memory starts again
REMEMBERED_CHARS = 256  # a longer X-Forwarded-For is walked each time: the memory stays small
_HOST = re.compile(rb"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_FORWARDING = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})


def proxy_network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """One TRUSTED_PROXIES entry (an address or a CIDR network) as a network; ValueError says why not."""
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is neither an IP address nor a CIDR network (e.g. 10.0.0.0/8)") from None


def parse_address(text: str) -> IpAddress | None:
    """An X-Forwarded-For entry as an IP address, None when it is not one. Some proxies add the
    port (`203.0.113.7:51234`, `[2001:db8::1]:443`): it is dropped."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :] if end > 0 else "?"
        if rest and not (rest[0] == ":" and rest[1:].isdigit()):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port; an IPv6 address has two colons or more
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    """The TRUSTED_PROXIES networks, and the scope rewrite for requests they forward.

    Empty, it is falsy and the front door never calls it: trusting no one costs nothing."""

    def __init__(self, entries: Iterable[str] = ()):
        self.networks = tuple(proxy_network(entry) for entry in entries)
        self._verdicts: dict[str, bool] = {}  # peer address -> trusted: the hot path parses a peer once
        self._walks: dict[str, tuple[str | None, int]] = {}  # X-Forwarded-For -> (client, hops): once too

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IpAddress) -> bool:
        if address.version == 6 and address.ipv4_mapped is not None:  # a dual-stack socket's IPv4 peer
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def trusts_peer(self, peer: str) -> bool:
        """Whether the TCP peer (the ASGI scope's client host) is a trusted proxy."""
        verdict = self._verdicts.get(peer)
        if verdict is None:
            address = parse_address(peer)
            verdict = address is not None and self.trusts(address)
            _remember(self._verdicts, peer, verdict)
        return verdict

    def client_of(self, peer: str, forwarded_for: str) -> tuple[str, int]:
        """(client address, trusted hops) for a request from the trusted proxy `peer` that says
        `forwarded_for` (X-Forwarded-For, comma separated; "" when absent). The hops are the
        proxies the request went through, `peer` included."""
        if not forwarded_for:
            return peer, 1
        walked = self._walks.get(forwarded_for)
        if walked is None:
            walked = self._walk(forwarded_for)
            if len(forwarded_for) <= REMEMBERED_CHARS:
                _remember(self._walks, forwarded_for, walked)
        client, hops = walked
        return client or peer, hops

    def _walk(self, forwarded_for: str) -> tuple[str | None, int]:
        """(client, hops) X-Forwarded-For names; client None: the peer itself."""
        client, hops = None, 1
        for entry in reversed(forwarded_for.split(",")):
            address = parse_address(entry)
            if address is None:  # unparseable: believe nothing further left
                break
            client = str(address)
            if not self.trusts(address):
                break
            hops += 1
        return client, hops

    def rewrite(self, scope: dict) -> dict:
        """`scope` as the client saw the request, when its peer is a trusted proxy; else `scope`."""
        peer = scope.get("client")
        if not peer or not self.trusts_peer(peer[0]):
            return scope
        found: dict[bytes, list[bytes]] = {}
        for name, value in scope["headers"]:
            if name in _FORWARDING:
                found.setdefault(name, []).append(value)
        if not found:
            return scope
        # Several header lines of one name are one comma-separated list, in order (RFC 9110).
        forwarded_for = b",".join(found.get(b"x-forwarded-for", ())).decode("latin-1")
        client, hops = self.client_of(peer[0], forwarded_for)
        # A proxy does not forward the client's port; the peer's is kept while the peer is the client.
        rewritten = {**scope, "client": peer if client == peer[0] else (client, 0)}
        proto = _at_hop(found.get(b"x-forwarded-proto"), hops).lower()
        if proto in (b"http", b"https", b"ws", b"wss"):
            secure = proto in (b"https", b"wss")
            if scope["type"] == "websocket":
                rewritten["scheme"] = "wss" if secure else "ws"
            else:
                rewritten["scheme"] = "https" if secure else "http"
        host = _at_hop(found.get(b"x-forwarded-host"), hops)
        if host and _HOST.fullmatch(host):
            rewritten["headers"] = [(name, value) for name, value in scope["headers"] if name != b"host"]
            rewritten["headers"].append((b"host", host))
        return rewritten


def _remember(memory: dict, key, value) -> None:
    if len(memory) >= REMEMBERED:  # clients choose the keys: the memory never grows past its size
        memory.clear()
    memory[key] = value


def _at_hop(values: list[bytes] | None, hops: int) -> bytes:
    """The entry the outermost trusted proxy wrote in a comma-separated forwarding header: the
    `hops`-th from the right, or the leftmost when there are fewer (proxies that overwrite)."""
    if not values:
        return b""
    entries = b",".join(values).split(b",")
    return entries[-min(hops, len(entries))].strip()
