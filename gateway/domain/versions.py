"""Versions a client can hold on to: strong entity tags (RFC 9110 §8.8.3) and the If-Match
condition (§13.1.1) a PATCH or DELETE may carry (ADR-0042).

An ETag is a hash of the representation's bytes as the gateway sends them, derived from
stored data only: every replica computes the same one, and every stored change of a server
changes it (each write moves `updated_at`). Nothing is kept per version."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from gateway.domain.ids import whole
from gateway.errors import Conflict, InvalidInput, PreconditionFailed, UnprocessableInput

IF_MATCH = "If-Match"
IF_NONE_MATCH = "If-None-Match"
MAX_TAGS = 32  # a client holding more versions than this is not doing optimistic locking

# entity-tag = [ W/ ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3)
_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|$)')
# The same grammar as one pattern, for the OpenAPI document: `*`, or a list of (possibly empty)
# elements with at least one quote. tests/unit/domain/test_header_grammars.py holds the two
# equal. The tag limit is not in it: a pattern cannot count distinct tags.
_TAG = r'[ \t]*(?:(?:W/)?"[\x21\x23-\x7e\x80-\xff]*")?[ \t]*'
IF_MATCH_PATTERN = whole(rf'[ \t]*\*[ \t]*|(?=[^"]*"){_TAG}(?:,{_TAG})*')


def representation(value: Any) -> bytes:
    """The bytes a resource is sent as (and hashed from): msgspec's JSON, deterministic."""
    return msgspec.json.encode(value)


def etag_of_bytes(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def etag_of(value: Any) -> str:
    return etag_of_bytes(representation(value))


class IfMatch(msgspec.Struct, kw_only=True, frozen=True):
    """`*` (any current representation) or the strong tags a client holds. Weak tags are kept
    only to never match: If-Match compares strongly."""

    any: bool = False
    tags: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, header: str | None) -> IfMatch | None:
        """None when the header is absent (If-Match is optional: no 428); a 400 naming the
        header when it is not `*` or a list of entity tags."""
        if header is None:
            return None
        if header.strip(" \t") == "*":  # optional whitespace is SP and HTAB only
            return cls(any=True)
        return cls(tags=_tags(header, IF_MATCH, weak_too=False))

    @property
    def pinned(self) -> bool:
        """Names versions: a version that moves under the write is a 412, never a retry."""
        return not self.any

    def matches(self, etag: str) -> bool:
        return self.any or etag in self.tags

    def check(self, current: Any, what: str) -> None:
        """412 unless `current` (the representation as the caller would read it) matches."""
        if not self.matches(etag_of(current)):
            raise failed(what)


class IfNoneMatch(msgspec.Struct, kw_only=True, frozen=True):
    """`*` or the tags a client holds for a GET (RFC 9110 §13.1.2): when the current ETag is
    one of them the answer is a 304 with no body. The comparison is weak: `W/"x"` matches
    `"x"`."""

    any: bool = False
    tags: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, header: str | None) -> IfNoneMatch | None:
        """None when absent; a 400 naming the header when it is not `*` or entity tags."""
        if header is None:
            return None
        if header.strip(" \t") == "*":
            return cls(any=True)
        return cls(tags=_tags(header, IF_NONE_MATCH, weak_too=True))

    def matches(self, etag: str) -> bool:
        return self.any or etag in self.tags


def _tags(header: str, name: str, *, weak_too: bool) -> frozenset[str]:
    """The entity tags of a list header, as strong tags (`"opaque"`); weak ones only when
    `weak_too` (If-Match compares strongly: a weak tag there never matches)."""
    tags: set[str] = set()
    position, end = 0, len(header)
    while position < end:
        element = _ELEMENT.match(header, position)
        if element is None or element.end() == position:
            raise _malformed(name)
        weak, opaque = element.groups()
        if opaque is not None and (weak_too or not weak):
            tags.add(f'"{opaque}"')
        position = element.end()
    if len(tags) > MAX_TAGS:
        raise UnprocessableInput.field(name, f"at most {MAX_TAGS} entity tags")
    if not tags and '"' not in header:
        raise _malformed(name)  # nothing that even looks like a tag
    return frozenset(tags)


def failed(what: str) -> PreconditionFailed:
    return PreconditionFailed(
        f"If-Match: {what} has changed since that version; read it again for its ETag"
    )


@contextlib.contextmanager
def version_held(if_match: IfMatch | None, what: str) -> Iterator[None]:
    """Around the compare-and-set of a checked write: a conflict there means the version the
    If-Match matched moved meanwhile, which is a 412, not a 409 or a retry."""
    try:
        yield
    except Conflict as exc:
        if if_match is not None and if_match.pinned:
            raise failed(what) from exc
        raise


def _malformed(name: str) -> InvalidInput:
    return InvalidInput.field(name, 'expected * or a list of entity tags such as "abc"')
