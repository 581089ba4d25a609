"""Names and URIs through /mcp are unique in a view whatever its servers are called
(gateway/mcp_proxy/names.py): was, servers named `files`, `files` and `files-<the first's
id tail>` gave five duplicate tool names, and calls went to the first."""

from __future__ import annotations

from gateway.mcp_proxy import names
from tests.fixtures.entities import personal


def test_servers_named_to_collide_still_get_unique_prefixes() -> None:
    first = personal("mcp_01jaaaaaaaaaaaaaaaaa1111aaaa")
    second = personal("mcp_01jbbbbbbbbbbbbbbbbb2222bbbb")
    tail = names._slug(first.id)[-8:]
    third = personal("mcp_01jccccccccccccccccc3333cccc", name=f"files-{tail}")
    chosen = names.prefixes([first, second, third])
    assert len(set(chosen.values())) == 3
    assert chosen[second.id] == f"files-{names._slug(second.id)[-8:]}"
    # The one named like a disambiguated prefix and the one it collided with: id-based.
    assert chosen[first.id] == f"{names._slug(first.id)}-"
    assert chosen[third.id] == f"{names._slug(third.id)}-"


def test_a_lone_server_keeps_its_name_and_names_split_back() -> None:
    server = personal("mcp_1", name="GitHub Tools!")
    (prefix,) = names.prefixes([server]).values()
    assert prefix == "github-tools"
    assert names.split(names.qualified(prefix, "create_issue")) == (prefix, "create_issue")
    assert names.split("no-separator") is None


def test_resource_uris_wrap_and_unwrap_unchanged() -> None:
    for uri in ("memo://files/hello", "file:///etc/hosts", "memo://files/{topic}", "x:y/z?q#f"):
        wrapped = names.wrap_uri("files", uri)
        assert wrapped.startswith("mcpgw://files/")
        assert names.unwrap_uri(wrapped) == ("files", uri)
    assert names.unwrap_uri("memo://files/hello") is None  # not one the gateway gave out
    assert names.unwrap_uri("mcpgw://files") is None
