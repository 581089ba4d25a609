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

A deployment allows every address with GATEWAY_ALLOW_PRIVATE_UPSTREAMS.

Host names are classified by name only when saved (`localhost` and `*.localhost` are
loopback: 127.0.0.1); what a name resolves to is checked when the proxy connects."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import msgspec

from gateway.errors import UnprocessableInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

GLOBAL = "global"
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")

# (block, kind). Order matters where blocks nest: the first that holds an address names its
# kind. An address is never global inside one of these, whatever `is_global` says on this
# Python. From the IANA
# IPv4 and IPv6 Special-Purpose Address Registries ("Globally Reachable: False"), plus
# multicast and the deprecated blocks. The few anycast service addresses IANA marks global
# inside 192.0.0.0/24 and 2001::/23 (PCP, TURN, AMT, AS112) are refused too: no MCP server
# lives there.
_NOT_GLOBAL: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(block), kind)
    for block, kind in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared"),  # carrier-grade NAT; cloud metadata too
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link_local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "ietf_protocol"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "relay_anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "nat64_local"),
        ("2001::/23", "ietf_protocol"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "private"),  # unique local
        ("fe80::/10", "link_local"),
        ("fec0::/10", "site_local"),
        ("ff00::/8", "multicast"),
    )
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_kind(address: IPAddress) -> str:
    """`global`, or what the address is instead: `loopback`, `private`, `shared`, ..."""
    carried = _carried(address)
    if carried is not None:
        return address_kind(carried)
    for block, kind in _NOT_GLOBAL:
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


class UpstreamReach(msgspec.Struct, kw_only=True, frozen=True):
    """The addresses an upstream may have beyond the global ones (from the settings)."""

    everything: bool = False  # GATEWAY_ALLOW_PRIVATE_UPSTREAMS

    def refusal(self, address: IPAddress) -> str | None:
        """None when the gateway may connect to `address`; otherwise its kind."""
        kind = address_kind(address)
        if kind == GLOBAL or self.everything:
            return None
        return kind


GLOBAL_ONLY = UpstreamReach()


def refusal_message(what: str, kind: str) -> str:
    """Why a URL or a connection is refused; names the settings that would allow it."""
    named = kind.replace("_", "-")
    article = "an" if named[0] in "aeiou" else "a"
    return (
        f"{what} {article} {named} address; the gateway connects only to globally "
        "reachable addresses (any, with GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true)"
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
