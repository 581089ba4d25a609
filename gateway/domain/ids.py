"""Every id and name the gateway accepts, defined once and matched against the whole string.

The claims, path and query parameters, request bodies, the secrets layer (which puts ids into
Vault paths), the Redis key builders and the cursors all use these. Each pattern ends in
`$(?!\\n)`: under Python's `re.search` (what msgspec and Litestar run) a bare `$` also
matches before a trailing newline, so `"bob\\n"` would pass as a second `bob`; the
lookahead refuses it, and the syntax is valid ECMAScript too, so OpenAPI clients read it.

Ids the gateway mints are a prefix plus a time-ordered random part, so sorting by id sorts
by creation.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from typing import Annotated, Final

import msgspec

PERSONAL_SERVER_PREFIX: Final = "mcp_"
ENTERPRISE_SERVER_PREFIX: Final = "emcp_"
ENTERPRISE_PREFIX: Final = "ent_"


def whole(body: str) -> str:
    """A pattern matching exactly `body`: the whole string, no trailing newline."""
    return f"^(?:{body})$(?!\\n)"


# User ids come from the identity provider (the JWT's `sub`): printable, no `/` (they become
# Vault path segments), and not `.`, `..` (path traversal) or `enterprise` (the segment of
# the enterprises' own namespace in Vault).
USER_ID: Final = whole(r"(?!(?:\.|\.\.|enterprise)$)[A-Za-z0-9._@|:+-]{1,256}")
ENTERPRISE_ID: Final = whole(r"ent_[0-9a-z_]{1,64}")
PERSONAL_SERVER_ID: Final = whole(r"mcp_[0-9a-z]{1,64}")
ENTERPRISE_SERVER_ID: Final = whole(r"emcp_[0-9a-z]{1,64}")
SERVER_ID: Final = whole(r"e?mcp_[0-9a-z]{1,64}")
ENV_VAR: Final = whole(r"[A-Z_][A-Z0-9_]{0,127}")
LISTING_ID: Final = whole(r"[a-z0-9][a-z0-9._-]{0,127}")
# Names people give things (servers, enterprises, listings): no leading or trailing space.
# Python's `\s` and `.` are not ECMAScript's (`\x1c`-`\x1f` are whitespace only in Python, `.`
# takes `\r` only in Python): the classes below name the characters outright, so the gateway
# and every OpenAPI client draw the same line. No control characters anywhere in a name.
VISIBLE_CHAR: Final = r"[^\s\x00-\x1f\x7f-\x9f\ufeff]"  # no space, no control: both engines
_NAME_EDGE = VISIBLE_CHAR
_NAME_INNER = r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]"
DISPLAY_NAME: Final = whole(rf"{_NAME_EDGE}(?:{_NAME_INNER}*{_NAME_EDGE})?")
# Upstream URLs: no whitespace or control character anywhere (the same class as a name's edge).
URL_TEXT: Final = whole(rf"{VISIBLE_CHAR}{{1,2048}}")
# What a client may send as X-Request-Id (else the gateway makes one).
REQUEST_ID: Final = whole(r"[A-Za-z0-9._:-]{1,128}")
# Anything a cursor may point after: an id or a user id.
CURSOR_KEY: Final = whole(r"[A-Za-z0-9._@|:+-]{1,256}")
# What a decision was about, in the decision log: any of the ids above.
RESOURCE_ID: Final = CURSOR_KEY
# Decision ids: the gateway's UUIDs, or OPA's.
DECISION_ID: Final = whole(r"[A-Za-z0-9-]{1,64}")
# Policy actions: `mcp_server.read`, `enterprise.members.write`, `scope.view`.
ACTION: Final = whole(r"[a-z][a-z0-9_]{0,63}(?:\.[a-z][a-z0-9_]{0,63}){0,4}")

# msgspec types, for Structs and Litestar parameters alike.
UserId = Annotated[str, msgspec.Meta(pattern=USER_ID, max_length=256)]
EnterpriseId = Annotated[str, msgspec.Meta(pattern=ENTERPRISE_ID, max_length=68)]
PersonalServerId = Annotated[str, msgspec.Meta(pattern=PERSONAL_SERVER_ID, max_length=68)]
EnterpriseServerId = Annotated[str, msgspec.Meta(pattern=ENTERPRISE_SERVER_ID, max_length=69)]
ServerId = Annotated[str, msgspec.Meta(pattern=SERVER_ID, max_length=69)]
EnvVarName = Annotated[str, msgspec.Meta(pattern=ENV_VAR, max_length=128)]
ListingId = Annotated[str, msgspec.Meta(pattern=LISTING_ID, max_length=128)]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=DISPLAY_NAME)]

# For the OpenAPI document only: `readOnly` on what the gateway sets (ids, owners, times).
# No constraint, so nothing decodes differently; Litestar copies `extra` into the schema.
READ_ONLY: Final = msgspec.Meta(extra_json_schema={"extra": {"readOnly": True}})

_compiled: dict[str, re.Pattern[str]] = {}


def matches(pattern: str, value: object) -> bool:
    """Whether `value` is a string `pattern` accepts (one of the patterns above)."""
    if not isinstance(value, str):
        return False
    regex = _compiled.get(pattern)
    if regex is None:
        regex = _compiled[pattern] = re.compile(pattern)
    return regex.search(value) is not None


def new_id(prefix: str) -> str:
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def new_uuid() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` makes it at a fraction of the
    cost: two are made per request (its request id and each decision's id). The randomness
    is the OS's, read 4 KiB at a time (one system call per 256 ids, not one per id)."""
    global _random, _at
    if _at >= len(_random):
        _random, _at = os.urandom(4096).hex(), 0
    h = _random[_at : _at + 32]
    _at += 32
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_random = ""  # hex of OS randomness not used yet, from `_at` on
_at = 0


def _forget_randomness() -> None:
    """A forked worker must not hand out the ids its parent had buffered."""
    global _random, _at
    _random, _at = "", 0


os.register_at_fork(after_in_child=_forget_randomness)


# RFC 9562 §4.1: the variant's two high bits are 10.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
