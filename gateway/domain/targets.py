"""Which addresses the gateway may connect to for an HTTP transport: the one rule, asked where
a server is saved (`check_target`, the URL's host when it is an address) and where the MCP
proxy connects (gateway/mcp_proxy/network.py, every address a name resolves to).

The proxy connects from inside the gateway's network, so by default only globally reachable
addresses are allowed: any other (loopback, private, link-local with cloud metadata at
169.254.169.254, carrier-grade NAT with more metadata at 100.100.100.200, site-local, ...)
would let any user reach internal services (SSRF). "Globally reachable" is Python's
`is_global` and also what the IANA special-purpose registries say it gets wrong or what differs
between Python releases (`_NOT_GLOBAL`): multicast and broadcast, all of 192.0.0.0/24, the
deprecated 6to4 relay anycast, IPv6 outside 2000::/3 and the registry's non-global blocks
inside it. An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, NAT64
`64:ff9b::/96`, 6to4 `2002::/16`) is as global as the IPv4 address it carries.

A deployment widens this with GATEWAY_PRIVATE_UPSTREAM_CIDRS (the ranges it names, each inside
one non-global block) or, bluntly, GATEWAY_ALLOW_PRIVATE_UPSTREAMS (every address).

Host names are classified by name only when saved (`localhost` and `*.localhost` are
loopback: 127.0.0.1); what a name resolves to is checked when the proxy connects."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import msgspec

from gateway.errors import UnprocessableInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

GLOBAL = "global"
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")

# (block, kind, whether GATEWAY_PRIVATE_UPSTREAM_CIDRS may name a range inside it). Order
# matters where blocks nest: the first that holds an address names its kind. An address is
# never global inside one of these, whatever `is_global` says on this Python. From the IANA
# IPv4 and IPv6 Special-Purpose Address Registries ("Globally Reachable: False"), plus
# multicast and the deprecated blocks. The few anycast service addresses IANA marks global
# inside 192.0.0.0/24 and 2001::/23 (PCP, TURN, AMT, AS112) are refused too: no MCP server
# lives there. Never listable: addresses a TCP connection cannot mean (0.0.0.0/8 reaches the
# local host on Linux; multicast; broadcast).
_NOT_GLOBAL: tuple[tuple[IPNetwork, str, bool], ...] = tuple(
    (ipaddress.ip_network(block), kind, listable)
    for block, kind, listable in (
        ("0.0.0.0/8", "unspecified", False),
        ("10.0.0.0/8", "private", True),
        ("100.64.0.0/10", "shared", True),  # carrier-grade NAT; cloud metadata too
        ("127.0.0.0/8", "loopback", True),
        ("169.254.0.0/16", "link_local", True),
        ("172.16.0.0/12", "private", True),
        ("192.0.0.0/24", "ietf_protocol", True),
        ("192.0.2.0/24", "documentation", True),
        ("192.88.99.0/24", "relay_anycast", True),
        ("192.168.0.0/16", "private", True),
        ("198.18.0.0/15", "benchmarking", True),
        ("198.51.100.0/24", "documentation", True),
        ("203.0.113.0/24", "documentation", True),
        ("224.0.0.0/4", "multicast", False),
        ("255.255.255.255/32", "broadcast", False),
        ("240.0.0.0/4", "reserved", True),
        ("::/128", "unspecified", False),
        ("::1/128", "loopback", True),
        ("64:ff9b:1::/48", "nat64_local", True),
        ("2001::/23", "ietf_protocol", True),
        ("2001:db8::/32", "documentation", True),
        ("3fff::/20", "documentation", True),
        ("fc00::/7", "private", True),  # unique local
        ("fe80::/10", "link_local", True),
        ("fec0::/10", "site_local", True),
        ("ff00::/8", "multicast", False),
    )
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_kind(address: IPAddress) -> str:
    """`global`, or what the address is instead: `loopback`, `private`, `shared`, ..."""
    carried = _carried(address)
    if carried is not None:
        return address_kind(carried)
    for block, kind, _ in _NOT_GLOBAL:
        if address in block:  # (False between an IPv4 and an IPv6 one)
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return "reserved"
    return GLOBAL if address.is_global else "reserved"


def _carried(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (and reaches): mapped, NAT64 or 6to4."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def parse_private_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """GATEWAY_PRIVATE_UPSTREAM_CIDRS: each entry a network (`10.20.0.0/16`, `fd00:1::/64`)
    or one address, inside one non-global block. A range reaching into global space
    (`0.0.0.0/0`, `10.0.0.0/7`) is refused: global addresses are allowed anyway, so such an
    entry can only be a mistake that also opens every private range. ValueError names it."""
    networks = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry.strip(), strict=True)
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not a CIDR range: {exc}") from None
        inside = next(
            ((kind, listable) for block, kind, listable in _NOT_GLOBAL if _inside(network, block)),
            None,
        )
        if inside is None:
            raise ValueError(
                f"{entry!r} is not inside one private or other non-global block (such as "
                "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7); global "
                "addresses need no entry, and a wider range would open every private one"
            )
        if not inside[1]:
            raise ValueError(f"{entry!r} is {inside[0]}: never an upstream's address")
        networks.append(network)
    return tuple(networks)


def _inside(network: IPNetwork, block: IPNetwork) -> bool:
    if isinstance(network, ipaddress.IPv4Network) and isinstance(block, ipaddress.IPv4Network):
        return network.subnet_of(block)
    if isinstance(network, ipaddress.IPv6Network) and isinstance(block, ipaddress.IPv6Network):
        return network.subnet_of(block)
    return False


class UpstreamReach(msgspec.Struct, kw_only=True, frozen=True):
    """The addresses an upstream may have beyond the global ones (from the settings)."""

    everything: bool = False  # GATEWAY_ALLOW_PRIVATE_UPSTREAMS: the blunt instrument
    networks: tuple[IPNetwork, ...] = ()  # GATEWAY_PRIVATE_UPSTREAM_CIDRS

    def refusal(self, address: IPAddress) -> str | None:
        """None when the gateway may connect to `address`; otherwise its kind."""
        kind = address_kind(address)
        if kind == GLOBAL or self.everything or self._listed(address):
            return None
        return kind

    def _listed(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # the socket connects to that IPv4 address
        return any(address in network for network in self.networks)


GLOBAL_ONLY = UpstreamReach()


def refusal_message(what: str, kind: str) -> str:
    """Why a URL or a connection is refused; names the settings that would allow it."""
    named = kind.replace("_", "-")
    article = "an" if named[0] in "aeiou" else "a"
    return (
        f"{what} {article} {named} address; the gateway connects only to globally "
        "reachable addresses and the ranges in GATEWAY_PRIVATE_UPSTREAM_CIDRS "
        "(or any, with GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true)"
    )


def host_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally (`localhost` included), or None for a name."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return _LOOPBACK
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # The forms resolvers also accept: `2130706433`, `127.1`, `0x7f.0.0.1` are 127.0.0.1.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):  # ValueError: a NUL in the host ("http://a%00b" decoded)
        return None


def target_kind(url: str) -> str:
    """`global` (a name counts as global until it is resolved), or the kind of the URL's
    host's address."""
    address = host_address(urlsplit(url).hostname or "")
    return GLOBAL if address is None else address_kind(address)


def check_target(url: str | None, reach: UpstreamReach) -> None:
    """A 422 naming `url` when it names an address the gateway may not connect to."""
    if url is None:
        return
    address = host_address(urlsplit(url).hostname or "")
    kind = None if address is None else reach.refusal(address)
    if kind is not None:
        raise UnprocessableInput.field("url", refusal_message("targets", kind))
