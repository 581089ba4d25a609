"""Tool names namespaced by server: `<server>__<tool>`, so two servers' tools never collide.

`<server>` is the server's name as a slug (what a model reads); when two servers of one view
share a slug, each gets its id's tail appended. The mapping is a function of the view, so a
call resolves its name exactly as the list that showed it named it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from gateway.domain.servers import AnyServer

SEPARATOR = "__"
_UNSAFE = re.compile(r"[^a-z0-9-]+")
_MAX_PREFIX = 40


def _slug(name: str) -> str:
    # No `_` in a prefix, so the first `__` of a namespaced name always ends the prefix.
    return _UNSAFE.sub("-", name.lower()).strip("-")[:_MAX_PREFIX] or "server"


def prefixes(servers: Sequence[AnyServer]) -> dict[str, str]:
    """Server id -> prefix, unique within `servers`."""
    slugs = {s.id: _slug(s.name) for s in servers}
    shared = Counter(slugs.values())
    return {
        sid: slug if shared[slug] == 1 else f"{slug}-{_slug(sid)[-8:]}"
        for sid, slug in slugs.items()
    }


def qualified(prefix: str, tool: str) -> str:
    return f"{prefix}{SEPARATOR}{tool}"


def split(name: str) -> tuple[str, str] | None:
    """(prefix, upstream tool name), or None for a name no server's tool can have."""
    prefix, sep, tool = name.partition(SEPARATOR)
    if not sep or not prefix or not tool:
        return None
    return prefix, tool
