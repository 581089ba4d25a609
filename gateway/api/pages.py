"""The list envelope every collection endpoint answers with."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import Parameter

from gateway.domain.ids import whole
from gateway.services.pagination import MAX_LIMIT, page

T = TypeVar("T")
P = TypeVar("P", bound="Page[Any]")

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[
    str | None,
    Parameter(
        max_length=512,
        # base64url, padded or not; empty is the first page; one the gateway did not issue: 422
        pattern=whole(r"[A-Za-z0-9_=-]{0,512}"),
        description="next_cursor of the previous page",
    ),
]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """Each endpoint answers a concrete subclass (`ServerPage(Page[AnyServer])`): its name is
    the OpenAPI component's, where `Page[...]` would spell out module paths. The subclass
    declares `items` again with the concrete type: Litestar does not carry the type argument
    of a subclassed generic Struct into the document (its items were untyped objects)."""

    items: list[T]
    next_cursor: str | None = None


def paged(
    into: type[P],
    items: Sequence[Any],
    limit: int,
    cursor: str | None,
    key: Callable[[Any], str] = operator.attrgetter("id"),
) -> P:
    chunk, next_cursor = page(items, limit=limit, cursor=cursor, key=key)
    return into(items=chunk, next_cursor=next_cursor)
