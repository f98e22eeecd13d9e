"""The outbound guard: Forge calls only public addresses unless OUTBOUND_ALLOW admits others.

Layer: kernel, below every HTTP client Forge opens toward a URL someone registered: the REST
adapter's aiohttp session, federation's httpx and httpx2 clients (and the MCP SDK's, which use
them), the OpenAPI import's fetch. An API user who may register a tool could otherwise make the
gateway call its own loopback services, the private network or a cloud metadata endpoint (SSRF).

A host is checked after name resolution, on the addresses the connection then goes to, so a name
that resolves to a public address when checked and a private one when connecting (DNS rebinding)
gains nothing; every redirect hop connects through the same check. A name that resolves to any
refused address is refused as a whole. Refused: loopback, private (RFC 1918, unique-local
fc00::/7), shared CGNAT 100.64.0.0/10, link-local (cloud metadata 169.254.169.254, fd00:ec2::254),
unspecified, multicast, reserved, and IPv6 forms embedding such an IPv4 address (::ffff:127.0.0.1,
NAT64, 6to4). `OUTBOUND_ALLOW` lists what is admitted anyway: addresses and networks
(`127.0.0.1/32`, `::1`, `10.0.0.0/8`) and host names (`api.internal`, `*.corp.example`, admitting
whatever those names resolve to).

How each client is guarded:
- aiohttp: a resolver wrapping aiohttp's default filters every resolved name (aiohttp asks it for
  each new connection, redirect hops included), and a client middleware checks IP-literal hosts,
  which aiohttp never hands to a resolver (it runs again on each redirect hop).
- httpx/httpx2: a network backend under the transport's connection pool resolves the host, checks
  the addresses and connects to a checked one; TLS still verifies the URL's host name.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc

SETTING = "OUTBOUND_ALLOW"
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT: not public
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HOSTS_KEPT = 4096  # URL hosts remembered as passed by the aiohttp middleware


class OutboundRefused(Exception):
    """Forge refused to connect to an address; the message names it and the setting."""

    def __init__(self, host: str, address: str, reason: str):
        self.host, self.address, self.reason = host, address, reason
        named = address if host.strip("[]") == address else f"{host} ({address})"
        super().__init__(
            f"refused to connect to {named}: {reason}; add it to {SETTING} to let Forge call it"
        )


def refusal_reason(address: IPAddress) -> str | None:
    """Why `address` may not be called without the allow-list (None: it is public)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = refusal_reason(embedded)
        return f"the IPv6 form of {embedded}, {reason}" if reason else None
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.version == 4 and address in SHARED:
        return "a shared (CGNAT) address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@functools.lru_cache(maxsize=4096)
def ip_literal(host: str) -> IPAddress | None:
    """`host` as an address when it is one (`[::1]` too), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def allow_entry(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | str:
    """One OUTBOUND_ALLOW entry as a network, or a lower-case host name (`*.` for a whole domain);
    ValueError names what is wrong with it."""
    entry = entry.strip()
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    name = entry.lower().rstrip(".")
    labels = (name[2:] if name.startswith("*.") else name).split(".")
    if not all(label and label.replace("-", "").replace("_", "").isalnum() for label in labels):
        raise ValueError(f"{entry!r} is neither an address, a network (10.0.0.0/8) nor a host name")
    return name


class OutboundPolicy:
    """What Forge may connect to: public addresses, and what the allow-list admits."""

    def __init__(self, allow: Iterable[str] = (), *, getaddrinfo=None):
        parsed = [allow_entry(entry) for entry in allow]
        names = [entry for entry in parsed if isinstance(entry, str)]
        self.networks = tuple(entry for entry in parsed if not isinstance(entry, str))
        self.names = frozenset(name for name in names if not name.startswith("*."))
        self.domains = tuple(name[1:] for name in names if name.startswith("*."))  # ".corp.example"
        self._getaddrinfo = getaddrinfo  # tests stub name resolution here; None: the loop's
        self._passed: set[str] = set()  # hosts of URLs the aiohttp middleware has let through

    @classmethod
    def of(cls, settings) -> OutboundPolicy:
        return cls(settings.outbound_allow)

    def admits_name(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.names or any(name.endswith(domain) for domain in self.domains)

    def refusal(self, host: str, address: str | IPAddress) -> OutboundRefused | None:
        """The refusal to connect to `address` (which `host` resolved to), or None when allowed."""
        ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
        reason = refusal_reason(ip)
        if reason is None or self.admits_name(host):
            return None
        embedded = _embedded_ipv4(ip)
        if any(ip in network or (embedded is not None and embedded in network) for network in self.networks):
            return None
        return OutboundRefused(host, str(ip), reason)

    def check(self, host: str, addresses: Iterable[str | IPAddress]) -> None:
        """Raise `OutboundRefused` when any address `host` resolved to is refused."""
        for address in addresses:
            refused = self.refusal(host, address)
            if refused is not None:
                raise refused

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of `host`, all checked (an address host is its own answer)."""
        literal = ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            getaddrinfo = self._getaddrinfo or asyncio.get_running_loop().getaddrinfo
            answers = await getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = list(dict.fromkeys(answer[4][0] for answer in answers))
        self.check(host, addresses)
        return addresses

    async def check_url(self, url: str) -> None:
        """Check a URL's host before a client is opened for it, so a refusal is told plainly; the
        clients check again on connecting. A name that does not resolve passes (the client says)."""
        parts = urlsplit(url)
        if not parts.hostname:
            return
        try:
            await self.resolve(parts.hostname, parts.port or 0)
        except OSError:
            return

    # --- aiohttp ----------------------------------------------------------------------------

    def aiohttp_session(
        self,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: dict | None = None,
        **options,
    ) -> aiohttp.ClientSession:
        """An aiohttp session connecting only where this policy allows; `connector` holds
        TCPConnector options, `resolver` the resolver to wrap (aiohttp's default otherwise)."""
        tcp = aiohttp.TCPConnector(resolver=GuardedResolver(self, resolver), **(connector or {}))
        return aiohttp.ClientSession(connector=tcp, middlewares=(self._aiohttp_literals,), **options)

    async def _aiohttp_literals(self, request: aiohttp.ClientRequest, handler) -> aiohttp.ClientResponse:
        host = request.url.raw_host or ""
        if host not in self._passed:  # the policy never changes: a host that passed always will
            literal = ip_literal(host)
            if literal is not None:
                self.check(host, (literal,))
            if len(self._passed) >= HOSTS_KEPT:
                self._passed.clear()
            self._passed.add(host)  # names too: the resolver checks what they resolve to
        return await handler(request)

    # --- httpx and httpx2 ---------------------------------------------------------------------

    def guard_httpx(self, transport: Any, connect_error: type[Exception]) -> Any:
        """Put this policy under an `httpx.AsyncHTTPTransport` (or httpx2's): its pool connects
        through `GuardedBackend`. `connect_error` is the httpcore (or httpcore2) ConnectError, which
        the transport turns into its own ConnectError when a name does not resolve."""
        pool = transport._pool  # httpx exposes no network_backend option; the pool keeps one
        if not hasattr(pool, "_network_backend"):
            raise RuntimeError("this httpx keeps no network backend on its pool: the outbound guard cannot attach")
        pool._network_backend = GuardedBackend(self, pool._network_backend, connect_error)
        return transport


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver (or `inner`), answering only addresses the policy allows."""

    def __init__(self, policy: OutboundPolicy, inner: aiohttp.abc.AbstractResolver | None = None):
        self.policy = policy
        self.inner = inner or aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list:
        answers = await self.inner.resolve(host, port, family)
        self.policy.check(host, (answer["host"] for answer in answers))
        return answers

    async def close(self) -> None:
        await self.inner.close()


class GuardedBackend:
    """An httpcore (or httpcore2) network backend that connects only to checked addresses."""

    def __init__(self, policy: OutboundPolicy, inner: Any, connect_error: type[Exception]):
        self.policy, self.inner, self.connect_error = policy, inner, connect_error

    async def connect_tcp(self, host: str, port: int, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = await self.policy.resolve(host, port)
        except OSError as error:  # the name does not resolve
            raise self.connect_error(f"cannot resolve {host}: {error}") from None
        failure: Exception | None = None
        for address in addresses:  # in the resolver's order, as a client would try them
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except self.connect_error as error:
                failure = error
        raise failure

    async def connect_unix_socket(self, path: str, timeout=None, socket_options=None):
        return await self.inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
