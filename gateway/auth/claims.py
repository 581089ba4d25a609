"""The identity the gateway acts on, decoded from a verified token's payload."""

from __future__ import annotations

from typing import Annotated

import msgspec

# The subject later becomes part of Vault paths, so `/` (and anything else odd) is refused here,
# at the edge, rather than trusted downstream. Same rule as gateway.domain.ids.UserId.
SUB_PATTERN = r"^[A-Za-z0-9._@|:+-]{1,256}$"

Subject = Annotated[str, msgspec.Meta(pattern=SUB_PATTERN)]
Email = Annotated[str, msgspec.Meta(min_length=1, max_length=320)]


class Claims(msgspec.Struct, kw_only=True, frozen=True):
    """Only the claims the gateway uses; other payload fields are ignored on purpose."""

    sub: Subject
    email: Email
    name: str | None = None
    roles: tuple[str, ...] = ()
    exp: int
