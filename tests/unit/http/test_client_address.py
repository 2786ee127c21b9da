"""Client addresses: the peer, or from trusted proxies X-Forwarded-For's last untrusted hop."""

from __future__ import annotations

import pytest

from cachefront.errors import ConfigurationError
from cachefront.http.client_address import ClientAddress


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    clients = ClientAddress()
    assert not clients.enabled
    assert clients.resolve("127.0.0.1", [b"203.0.113.9"]) == "127.0.0.1"


def test_forwarded_for_is_believed_from_trusted_proxies_only() -> None:
    clients = ClientAddress(["10.0.0.0/8", "192.0.2.1"])
    # The client forged the left-most hops; the proxies appended the right-most ones.
    forwarded = [b"1.1.1.1, 198.51.100.7", b"10.1.2.3"]
    assert clients.resolve("192.0.2.1", forwarded) == "198.51.100.7"
    assert clients.resolve("203.0.113.5", forwarded) == "203.0.113.5"  # peer not trusted
    assert clients.resolve("10.9.9.9", []) == "10.9.9.9"


def test_every_hop_trusted_gives_the_left_most_and_garbage_stops_the_walk() -> None:
    clients = ClientAddress(["10.0.0.0/8"])
    assert clients.resolve("10.0.0.1", [b"10.0.0.2, 10.0.0.3"]) == "10.0.0.2"
    assert clients.resolve("10.0.0.1", [b"198.51.100.7, not-an-ip"]) == "10.0.0.1"
    assert clients.resolve("10.0.0.1", [b"2001:db8::1"]) == "2001:db8::1"


def test_unreadable_setting_names_itself() -> None:
    with pytest.raises(ConfigurationError, match="CACHEFRONT_TRUSTED_PROXIES"):
        ClientAddress(["10.0.0.0/33"])
