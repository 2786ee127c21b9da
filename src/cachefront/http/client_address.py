"""The client address of a request: the peer, or what trusted proxies say in X-Forwarded-For.

Anonymous limits and the failed-authentication throttle count per client address, so
the address must be one a client cannot choose. A request's peer (``scope["client"]``)
is taken as the client unless it is one of the configured trusted proxies
(``CACHEFRONT_TRUSTED_PROXIES``, addresses and CIDR networks). From a trusted proxy,
``X-Forwarded-For`` is read right to left, skipping the trusted hops: the first hop
that is not trusted is the client, because only what trusted proxies appended can be
believed (a client can put anything at the left). An entry that is not an address
ends the walk at the last trusted hop.

This needs the server to hand the real peer in: ``cachefront serve`` must run uvicorn
with ``proxy_headers=False``, or uvicorn rewrites the peer from the header itself
(trusting 127.0.0.1 by default) before this code sees it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from cachefront.errors import ConfigurationError

__all__ = ["ClientAddress"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Peers remembered as trusted or not, before the memory starts over.
_PEERS_MAX = 10_000


class ClientAddress:
    """Resolves a request's client address, trusting ``X-Forwarded-For`` from proxies only."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        networks: list[_Network] = []
        for text in trusted_proxies:
            try:
                networks.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError as exc:
                raise ConfigurationError(
                    f"CACHEFRONT_TRUSTED_PROXIES: {text!r} is not an address or a network "
                    "(e.g. 10.0.0.1 or 10.0.0.0/8)"
                ) from exc
        self._networks = tuple(networks)
        self._peers: dict[str, bool] = {}

    @property
    def enabled(self) -> bool:
        """Whether any proxy is trusted; when not, the peer is always the client."""
        return bool(self._networks)

    def resolve(self, peer: str, forwarded_for: list[bytes]) -> str:
        """The client address of a request from ``peer`` with these X-Forwarded-For values."""
        if not self._networks or not forwarded_for or not self.trusted(peer):
            return peer
        hops = b",".join(forwarded_for).decode("latin-1").split(",")
        client = peer
        for hop in reversed(hops):
            hop = hop.strip()
            try:
                address = str(ipaddress.ip_address(hop))
            except ValueError:
                return client
            client = address
            if not self.trusted(address):
                return address
        return client  # every hop trusted: the left-most is as far as anyone can tell

    def trusted(self, address: str) -> bool:
        known = self._peers.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                known = False
            else:
                known = any(ip in network for network in self._networks)
            if len(self._peers) >= _PEERS_MAX:
                self._peers.clear()
            self._peers[address] = known
        return known
