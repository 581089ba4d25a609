"""Where an HTTP transport's URL points. The MCP proxy connects to these URLs from inside
the gateway's network, so a URL naming a loopback, private, link-local (cloud metadata at
169.254.169.254), multicast, reserved or unspecified address is refused unless the deployment
allows it (GATEWAY_ALLOW_PRIVATE_UPSTREAMS): otherwise any user could point the gateway at
internal services (SSRF). Host names are classified by name only here (`localhost` and
`*.localhost` are loopback); what a name resolves to is checked when the proxy connects."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from gateway.errors import UnprocessableInput

PUBLIC = "public"


def target_kind(url: str) -> str:
    """`public`, or what makes the URL's host internal: `loopback`, `private`, ..."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    address = _address(host)
    if address is None:
        return PUBLIC  # a name: resolved (and checked again) when connecting
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind
    return PUBLIC


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # The forms resolvers also accept: `2130706433`, `127.1`, `0x7f.0.0.1` are 127.0.0.1.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):  # ValueError: a NUL in the host ("http://a%00b" decoded)
        return None


def check_target(url: str | None, *, allow_private: bool) -> None:
    if url is None or allow_private:
        return
    kind = target_kind(url)
    if kind != PUBLIC:
        raise UnprocessableInput.field(
            "url",
            f"targets a {kind.replace('_', '-')} address; the gateway does not connect to "
            "internal addresses unless GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true",
        )
