"""Names and URIs namespaced by server, unique in a view whatever the servers are called.

- Tools and prompts: `<server>__<name>`. `<server>` is the server's name as a slug (what a
  model reads); servers of one view that share a slug each get their id's tail appended, and
  any that still collide (a server *named* `files-<tail>`) the whole id (`prefixes`).
- Resources: `mcpgw://<server>/<the upstream's URI>`, templates likewise
  (`mcpgw://files/memo://{topic}`): the upstream's URI follows the first `/` after the
  prefix unchanged, so a client's template expansion maps straight back.

The mapping is a function of the view, so a call or read resolves its name exactly as the
list that showed it named it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from gateway.domain.servers import AnyServer

SEPARATOR = "__"
URI_SCHEME = "mcpgw"
_URI_PREFIX = f"{URI_SCHEME}://"
_UNSAFE = re.compile(r"[^a-z0-9-]+")
_MAX_PREFIX = 40


def _slug(name: str) -> str:
    # No `_` in a prefix, so the first `__` of a namespaced name always ends the prefix.
    return _UNSAFE.sub("-", name.lower()).strip("-")[:_MAX_PREFIX] or "server"


def prefixes(servers: Sequence[AnyServer]) -> dict[str, str]:
    """Server id -> prefix, unique within `servers`: the name's slug; for servers sharing one,
    the slug and the id's tail; for any still colliding (a server *named* like another's
    disambiguated prefix), the id's slug and a trailing `-`, which no slug ends with, so it
    is unique (ids are) and differs from every other prefix."""
    chosen = {s.id: _slug(s.name) for s in servers}
    for settle in (_with_tail, _by_id):
        taken = Counter(chosen.values())
        shared = [s for s in servers if taken[chosen[s.id]] > 1]
        if not shared:
            break
        chosen.update({s.id: settle(s) for s in shared})
    return chosen


def _with_tail(server: AnyServer) -> str:
    return f"{_slug(server.name)}-{_slug(server.id)[-8:]}"


def _by_id(server: AnyServer) -> str:
    return f"{_slug(server.id)}-"


def qualified(prefix: str, name: str) -> str:
    return f"{prefix}{SEPARATOR}{name}"


def split(name: str) -> tuple[str, str] | None:
    """(prefix, upstream name), or None for a name no server's item can have."""
    prefix, sep, rest = name.partition(SEPARATOR)
    if not sep or not prefix or not rest:
        return None
    return prefix, rest


def wrap_uri(prefix: str, uri: str) -> str:
    return f"{_URI_PREFIX}{prefix}/{uri}"


def unwrap_uri(uri: str) -> tuple[str, str] | None:
    """(prefix, upstream URI), or None for a URI this gateway did not give out."""
    if not uri.startswith(_URI_PREFIX):
        return None
    prefix, sep, rest = uri[len(_URI_PREFIX) :].partition("/")
    if not sep or not prefix or not rest:
        return None
    return prefix, rest
