"""Where webhooks may go: a guard against server-side request forgery.

An endpoint's host is resolved when a connection is opened, every address
it resolves to is checked, and the connection goes to an address that was
checked: the name is never looked up a second time, so a DNS answer that
changes between the check and the connect (DNS rebinding) gains nothing.
Loopback, private, link-local (the cloud metadata address among them),
multicast, reserved, unspecified and shared (carrier-grade NAT) addresses
are refused, in their IPv6 forms too, unless private targets are allowed.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

SHARED_SPACE = ip_network("100.64.0.0/10")
NAT64 = ip_network("64:ff9b::/96")
METADATA_ADDRESSES = frozenset(
    {ip_address("169.254.169.254"), ip_address("fd00:ec2::254")}
)


class RefusedTargetError(Exception):
    """Raised instead of connecting to an address that is not allowed."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        where = f"{host} is" if host == address else f"{host} resolves to {address},"
        super().__init__(f"{where} {reason}")
        self.host = host
        self.address = address
        self.reason = reason


def refusal_reason(address: IPAddress) -> str | None:
    """Why a connection to ``address`` is refused, or None when it may go."""
    if address in METADATA_ADDRESSES:
        return "a link-local (cloud metadata) address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = refusal_reason(embedded)
        return f"{reason} (as IPv6)" if reason else None
    for reason, applies in _CLASSES:
        if applies(address):
            return reason
    return None


_CLASSES: list[tuple[str, Callable[[IPAddress], bool]]] = [
    ("an unspecified address", lambda a: a.is_unspecified),
    ("a loopback address", lambda a: a.is_loopback),
    ("a link-local address", lambda a: a.is_link_local),
    ("a site-local address", lambda a: getattr(a, "is_site_local", False)),
    ("a multicast address", lambda a: a.is_multicast),
    ("a shared (carrier-grade NAT) address", lambda a: a in SHARED_SPACE),
    ("a reserved address", lambda a: a.is_reserved),
    ("a private address", lambda a: a.is_private),
    ("an address that is not globally routable", lambda a: not a.is_global),
]


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped, NAT64 or 6to4."""
    if not isinstance(address, IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def literal_refusal(endpoint: str) -> str | None:
    """For an endpoint whose host is an IP literal, why it would be refused.

    Names are only checked when a delivery connects: what they resolve to
    then is what counts.
    """
    host = urlsplit(endpoint).hostname or ""
    address = literal_address(host)
    if address is None:
        return None
    reason = refusal_reason(address)
    return f"{host} is {reason}" if reason else None


# Forms that resolvers read as IPv4 although they are not dotted quads:
# 2130706433, 0x7f000001, 0177.0.0.1, 127.1.
_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]+|\d+)(?:\.(?:0x[0-9a-f]+|\d+)){0,3}", re.I)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any form a resolver accepts."""
    bare = host.rstrip(".")
    try:
        return ip_address(bare)
    except ValueError:
        pass
    if not _LEGACY_IPV4.fullmatch(bare):
        return None
    try:
        return IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses that pass the guard."""

    def __init__(
        self,
        allow_private: bool,
        resolver: Resolver = resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        try:
            addresses = await self.resolver(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        if not self.allow_private:
            # One bad address refuses the name: which one a connect would
            # reach is not ours to choose safely.
            for address in addresses:
                reason = refusal_reason(ip_address(address.partition("%")[0]))
                if reason is not None:
                    raise RefusedTargetError(host, address, reason)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.checked_addresses(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedTargetError(path, path, "a local socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, over a connection pool that uses the guard.

    TLS is unchanged: the certificate is checked against the endpoint's host
    name, which is also the name sent for SNI and in the Host header.
    """

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx takes no network backend, so the pool it built is replaced by
        # the same pool with ours; the request and error handling stay httpx's.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
