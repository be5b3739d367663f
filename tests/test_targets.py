"""The guard against server-side request forgery.

Only literal addresses are used, and the only connections made go to the
test receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from domain.errors import InvalidInputError
from domain.spec import TriggerSpec
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from eventtrigger.targets import (
    GuardedBackend,
    GuardedTransport,
    RefusedTargetError,
    literal_refusal,
    refusal_reason,
)
from tests.receiver import Receiver, running_receiver

REFUSED = [
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("127.0.0.1", "a loopback address"),
    ("127.45.6.7", "a loopback address"),
    ("::1", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("169.254.169.254", "a link-local (cloud metadata) address"),
    ("fd00:ec2::254", "a link-local (cloud metadata) address"),
    ("169.254.10.20", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("fec0::1", "a site-local address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("ff0e::1", "a multicast address"),
    ("100.64.0.1", "a shared (carrier-grade NAT) address"),
    ("100.127.255.254", "a shared (carrier-grade NAT) address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("::7f00:1", "a reserved address"),
    ("192.0.2.10", "a private address"),
    ("198.18.0.1", "a private address"),
    ("2001:db8::1", "a private address"),
    # IPv6 spellings of IPv4 addresses are judged by the IPv4 address.
    ("::ffff:127.0.0.1", "a loopback address (as IPv6)"),
    ("::ffff:10.1.1.1", "a private address (as IPv6)"),
    ("::ffff:169.254.169.254", "a link-local (cloud metadata) address (as IPv6)"),
    ("::ffff:100.64.0.1", "a shared (carrier-grade NAT) address (as IPv6)"),
    ("64:ff9b::a9fe:a9fe", "a link-local (cloud metadata) address (as IPv6)"),
    ("2002:c0a8:101::1", "a private address (as IPv6)"),
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_every_refused_class_is_refused(address: str, reason: str) -> None:
    assert refusal_reason(ip_address(address)) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ip_address(address)) is None


@pytest.mark.parametrize(
    ("endpoint", "refusal"),
    [
        ("http://169.254.169.254/latest", "169.254.169.254 is a link-local"),
        ("https://[::ffff:7f00:1]:8443/x", "::ffff:7f00:1 is a loopback address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("https://hooks.example.com/in", None),
        ("http://8.8.8.8/", None),
    ],
)
def test_literal_endpoints_are_judged_before_any_lookup(
    endpoint: str, refusal: str | None
) -> None:
    reason = literal_refusal(endpoint)
    if refusal is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(refusal)


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://",
        "http:///path",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com/\nX-Injected: 1",
        "//example.com/",
        "example.com/hook",
    ],
)
def test_a_malformed_endpoint_is_refused_by_the_domain(endpoint: str) -> None:
    spec = TriggerSpec(trigger_type="api", api_endpoint=endpoint)

    with pytest.raises(InvalidInputError) as refused:
        spec.check(datetime(2026, 12, 4, tzinfo=UTC))

    assert refused.value.field == "api_endpoint"


def test_the_service_refuses_a_literal_private_endpoint(tmp_path: Path) -> None:
    service = TriggerService(Settings(data_dir=tmp_path, jwt_secret="x"))
    try:
        with pytest.raises(InvalidInputError) as refused:
            service.create_trigger(
                "owner",
                TriggerSpec(trigger_type="api", api_endpoint="http://10.9.8.7/"),
            )
    finally:
        service.close()

    assert refused.value.field == "api_endpoint"


# The backend: check what the name resolves to, connect only there ----------


class RecordingBackend(httpcore.AnyIOBackend):
    """The real backend, noting the hosts it was asked to connect to."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        return await super().connect_tcp(
            host, port, timeout, local_address, socket_options
        )


def answers(*addresses: str) -> Any:
    """A resolver that answers every name with these addresses."""
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return list(addresses)

    resolve.lookups = lookups  # type: ignore[attr-defined]
    return resolve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def post(backend: GuardedBackend, url: str) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = GuardedTransport(backend, httpx.Limits())
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            return await client.post(url, content=b"{}")

    return asyncio.run(send())


def test_the_connection_goes_to_the_address_that_was_checked(
    receiver: Receiver,
) -> None:
    inner = RecordingBackend()
    resolver = answers("127.0.0.1")
    backend = GuardedBackend(True, resolver, inner)

    response = post(backend, f"http://hooks.example.test:{receiver.port}/in")

    assert response.status_code == 200
    assert resolver.lookups == ["hooks.example.test"]
    assert inner.hosts == ["127.0.0.1"]
    # The name stays the name: in the Host header (and for TLS, the SNI).
    [request] = receiver.requests
    assert request.header("Host") == f"hooks.example.test:{receiver.port}"


@pytest.mark.parametrize(
    "resolved",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["::ffff:10.0.0.1"],
        # One bad address among good ones refuses the name.
        ["8.8.8.8", "192.168.0.10"],
    ],
)
def test_a_name_that_resolves_to_a_refused_address_is_never_connected(
    resolved: list[str], receiver: Receiver
) -> None:
    inner = RecordingBackend()
    backend = GuardedBackend(False, answers(*resolved), inner)

    with pytest.raises(RefusedTargetError) as refused:
        post(backend, f"http://rebind.example.test:{receiver.port}/in")

    assert refused.value.host == "rebind.example.test"
    assert inner.hosts == []
    assert receiver.requests == []


def test_a_literal_address_is_checked_too(receiver: Receiver) -> None:
    backend = GuardedBackend(False, inner=RecordingBackend())

    with pytest.raises(RefusedTargetError) as refused:
        post(backend, receiver.url())

    assert refused.value.reason == "a loopback address"
    assert receiver.requests == []


def test_a_name_that_does_not_resolve_is_a_connection_error() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(httpx.ConnectError, match="cannot resolve nowhere.test"):
        post(GuardedBackend(False, fails), "http://nowhere.test/")


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://127.0.0.1./",
        "http://169.254.169.254./latest",
    ],
)
def test_legacy_ipv4_spellings_are_read_as_the_addresses_they_name(
    endpoint: str,
) -> None:
    assert literal_refusal(endpoint) is not None
