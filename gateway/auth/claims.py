"""The identity the gateway acts on, decoded from a verified token's payload."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway.domain.ids import UserId

Email = Annotated[str, msgspec.Meta(min_length=1, max_length=320)]


class Claims(msgspec.Struct, kw_only=True, frozen=True):
    """Only the claims the gateway uses; other payload fields are ignored on purpose. `sub`
    becomes part of Vault paths and Redis keys, so it is checked here, at the edge."""

    sub: UserId
    email: Email
    name: str | None = None
    roles: tuple[str, ...] = ()
    exp: int
