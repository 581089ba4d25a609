"""ETag on what a client reads or writes, If-Match on what it changes (ADR-0042). The
versions themselves are `gateway/domain/versions.py`; this is their HTTP side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Response
from litestar.enums import MediaType
from litestar.params import HeaderParameter

from gateway.domain.versions import (
    IF_MATCH,
    IF_MATCH_PATTERN,
    IF_NONE_MATCH,
    IfMatch,
    IfNoneMatch,
    etag_of_bytes,
    failed,
    representation,
)

IfMatchHeader = Annotated[
    str | None,
    HeaderParameter(
        name=IF_MATCH,
        required=False,
        schema_extra={"pattern": IF_MATCH_PATTERN},  # documents IfMatch.parse's grammar
        description=(
            "Optional. `*` or the resource's ETags: the write happens only if the resource "
            "still has one of them, else 412 (RFC 9110 §13.1.1)."
        ),
    ),
]


IfNoneMatchHeader = Annotated[
    str | None,
    HeaderParameter(
        name=IF_NONE_MATCH,
        required=False,
        schema_extra={"pattern": IF_MATCH_PATTERN},  # the same grammar as If-Match
        description=(
            "Optional. `*` or ETags the client holds: when the current one is among them the "
            "answer is 304 Not Modified with no body (RFC 9110 §13.1.2; weak comparison)."
        ),
    ),
]


def if_match(header: str | None) -> IfMatch | None:
    return IfMatch.parse(header)


def tagged(
    value: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response[Any]:
    """The resource as JSON with its strong ETag: the hash of exactly these bytes."""
    body = representation(value)
    return Response(
        body,
        status_code=status_code,
        media_type=MediaType.JSON,
        headers={**(headers or {}), "ETag": etag_of_bytes(body)},
    )


class Encoded:
    """A representation encoded once, with its strong ETag (a hash of exactly these bytes)."""

    __slots__ = ("body", "etag")

    def __init__(self, value: Any) -> None:
        self.body = representation(value)
        self.etag = etag_of_bytes(self.body)


def conditional(encoded: Encoded, if_none_match: str | None) -> Response[Any]:
    """200 with the bytes and their ETag, or 304 (headers only) when If-None-Match holds it."""
    condition = IfNoneMatch.parse(if_none_match)
    # Still `Cache-Control: no-store` (the edge's default): nothing in a browser's cache; a
    # client that keeps the tag itself asks with it.
    headers = {"ETag": encoded.etag}
    if not_modified(encoded, condition):
        return Response(b"", status_code=304, headers=headers)
    return Response(encoded.body, media_type=MediaType.JSON, headers=headers)


def not_modified(encoded: Encoded, condition: IfNoneMatch | None) -> bool:
    """RFC 9110 §13.1.2: the client already holds the current representation."""
    return condition is not None and condition.matches(encoded.etag)


def refuse_if_match(header: str | None) -> None:
    """For targets with no representation to match (credentials: values are write-only and
    their Vault write cannot be compared-and-set with the record). RFC 9110 §13.1.1: with no
    current representation the condition is false — 412, and nothing is written."""
    if header is not None:
        IfMatch.parse(header)  # a malformed header is still a 400 naming it
        raise failed("credentials (they have no representation to match)")
