"""How a URL's host and an address are classified for the upstream-target rule
(gateway/domain/targets.py), and which private ranges a deployment may open."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.domain.targets import (
    UpstreamReach,
    address_kind,
    parse_private_networks,
    target_kind,
)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://mcp.example.com/mcp", "global"),
        ("https://8.8.8.8/", "global"),
        ("http://127.1/", "loopback"),
        ("http://0x7f.0.0.1/", "loopback"),
        ("http://LOCALHOST./", "loopback"),
        ("http://api.localhost/", "loopback"),
        ("http://172.16.0.1/", "private"),
        ("http://[fe80::1]/", "link_local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://a\x00b/", "global"),  # inet_aton's ValueError on a NUL was a 500
    ],
)
def test_target_kinds(url: str, kind: str) -> None:
    assert target_kind(url) == kind


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        # What `is_global` (Python 3.11) misses or what differs between Python releases.
        ("100.100.100.200", "shared"),
        ("192.0.0.192", "ietf_protocol"),
        ("192.0.0.9", "ietf_protocol"),  # PCP anycast: global to IANA, no MCP server there
        ("192.88.99.1", "relay_anycast"),
        ("224.0.0.1", "multicast"),
        ("233.252.0.1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("0.1.2.3", "unspecified"),
        ("fec0::1", "site_local"),
        ("ff0e::1", "multicast"),
        ("5f00::1", "reserved"),  # segment routing SIDs: outside 2000::/3
        ("3fff::1", "documentation"),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible
        ("64:ff9b:1::808:808", "nat64_local"),
        # An IPv6 address carrying an IPv4 one is as global as that one.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:8.8.8.8", "global"),
        ("64:ff9b::a00:1", "private"),
        ("64:ff9b::a9fe:a9fe", "link_local"),
        ("64:ff9b::808:808", "global"),
        ("2002:a00:1::", "private"),
        ("2002:6440:1::", "shared"),
        ("2002:808:808::1", "global"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "ietf_protocol"),  # Teredo
        ("fe80::1%eth0", "link_local"),
        ("8.8.8.8", "global"),
        ("2606:4700:4700::1111", "global"),
    ],
)
def test_address_kinds(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_listed_ranges_open_only_themselves() -> None:
    reach = UpstreamReach(networks=parse_private_networks(["10.20.0.0/16", "fd00:1::/64"]))
    assert reach.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert reach.refusal(ipaddress.ip_address("::ffff:10.20.3.4")) is None  # the same socket
    assert reach.refusal(ipaddress.ip_address("fd00:1::5")) is None
    assert reach.refusal(ipaddress.ip_address("10.21.0.1")) == "private"
    assert reach.refusal(ipaddress.ip_address("169.254.169.254")) == "link_local"
    assert reach.refusal(ipaddress.ip_address("8.8.8.8")) is None
    assert UpstreamReach(everything=True).refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert UpstreamReach().refusal(ipaddress.ip_address("10.20.3.4")) == "private"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("0.0.0.0/0", "not inside one private"),
        ("::/0", "not inside one private"),
        ("10.0.0.0/7", "not inside one private"),  # reaches into 11.0.0.0/8
        ("8.8.8.0/24", "not inside one private"),
        ("10.20.0.1/16", "host bits set"),
        ("10.20.0.0/33", "not a CIDR range"),
        ("bogus", "not a CIDR range"),
        ("0.0.0.0/8", "never an upstream"),  # 0.0.0.0 reaches the local host on Linux
        ("224.0.0.0/4", "never an upstream"),
        ("::ffff:10.0.0.0/104", "not inside one private"),  # write the IPv4 form
    ],
)
def test_a_range_reaching_into_global_space_or_nonsense_is_refused(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        parse_private_networks(["10.1.0.0/16", entry])
    assert repr(entry) in str(caught.value)


@pytest.mark.parametrize(
    "entry", ["10.0.0.0/8", "100.64.0.0/10", "127.0.0.1", "169.254.169.254/32", "fd00:1::/64"]
)
def test_ranges_inside_a_non_global_block_are_taken(entry: str) -> None:
    assert parse_private_networks([entry]) == (ipaddress.ip_network(entry),)
