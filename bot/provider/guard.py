"""Which network addresses the bot may reach for a provider (the SSRF guard).

A chat user can type any provider address. Without a guard that lets them make the bot call
the operator's internal services (the database, a metadata endpoint, the Bot API server on
localhost). The decision is taken on the address the socket actually connects to, for every
connection: a name that resolves inward, a DNS answer that changes between two requests and
legacy spellings such as ``http://0x7f.1`` all end at that one check. The early check when a
key is added (`AddressPolicy.refuses_url`) only gives a friendlier message and uses the same
predicate, `refused_address`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64's well-known prefix embeds an IPv4 address in the last 32 bits (RFC 6052).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK = ipaddress.ip_address("127.0.0.1")
# The characters of legacy IPv4 spellings inet_aton accepts (0x7f.1, 0177.0.0.1, 2130706433).
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")


class BlockedAddress(OSError):
    """Raised inside the connector: the address is not one a provider may live at."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refused_address(address: IPAddress, *, allow_loopback: bool = False) -> bool:
    """True for every address a provider must not be reached at: loopback (unless allowed),
    private, shared, link-local, multicast, unspecified, reserved, and IPv4-mapped IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # A real provider is reached over plain IPv4; the mapped spelling only hides one.
            return True
        inner = _embedded_ipv4(address)
        if inner is not None and refused_address(inner, allow_loopback=False):
            return True
    if address.is_loopback:
        return not allow_loopback
    # is_global alone misses multicast on Python 3.11, hence the explicit checks.
    return (
        not address.is_global
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, legacy IPv4 spellings included; None for a name."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if bare and _LEGACY_IPV4.fullmatch(bare) and any(char.isdigit() for char in bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, or None when it has no host."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (parts.scheme.lower(), host, port) if host else None


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Where provider requests may go.

    ``allow_loopback`` is for sandbox mode (the in-process sandbox and tests listen on
    127.0.0.1). ``trusted`` holds origins the operator configured explicitly: the operator
    chose them, and a docker-compose sandbox lives at a private address
    (`bot.presets.address_policy` builds the policy from the settings).
    """

    allow_loopback: bool = False
    trusted: frozenset[tuple[str, str, int]] = field(default_factory=frozenset)

    @classmethod
    def trusting(cls, urls: list[str | None], *, allow_loopback: bool = False) -> AddressPolicy:
        trusted = frozenset(found for url in urls if url and (found := origin(url)) is not None)
        return cls(allow_loopback=allow_loopback, trusted=trusted)

    def refuses(self, address: IPAddress) -> bool:
        return refused_address(address, allow_loopback=self.allow_loopback)

    def trusts(self, url: str) -> bool:
        return origin(url) in self.trusted

    def refuses_url(self, url: str) -> bool:
        """The early check when a key is added (no DNS lookup: connecting checks names)."""
        if self.trusts(url):
            return False
        found = origin(url)
        if found is None:
            return True
        host = found[1]
        address = literal_address(host)
        if address is not None:
            return self.refuses(address)
        if host == "localhost" or host.endswith(".localhost"):
            return self.refuses(_LOOPBACK)
        # A bare name ("db", "redis") or a local-network suffix names an internal machine.
        return "." not in host or host.endswith((".local", ".internal", ".lan", ".home.arpa"))

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's TCPConnector(socket_factory=...): sees every address before connecting."""
        family, type_, proto, _, sockaddr = addr_info
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if self.refuses(address):
            raise BlockedAddress(f"provider address {address} is inside the server's network")
        return socket.socket(family=family, type=type_, proto=proto)
