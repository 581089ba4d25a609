"""How a URL's host is classified for the internal-target rule (gateway/domain/targets.py)."""

from __future__ import annotations

import pytest

from gateway.domain.targets import target_kind


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://mcp.example.com/mcp", "public"),
        ("https://8.8.8.8/", "public"),
        ("http://127.1/", "loopback"),
        ("http://0x7f.0.0.1/", "loopback"),
        ("http://LOCALHOST./", "loopback"),
        ("http://api.localhost/", "loopback"),
        ("http://172.16.0.1/", "private"),
        ("http://[fe80::1]/", "link_local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://a\x00b/", "public"),  # inet_aton's ValueError on a NUL was a 500
    ],
)
def test_target_kinds(url: str, kind: str) -> None:
    assert target_kind(url) == kind
