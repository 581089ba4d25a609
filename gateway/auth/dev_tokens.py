"""HS256 tokens for local development (`gateway token`) and tests; never for production."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import jwt
import msgspec

from gateway.auth.claims import Claims


def mint_dev_token(
    secret: str,
    *,
    sub: str,
    email: str,
    name: str | None = None,
    roles: Sequence[str] = (),
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    audience: str | Sequence[str] | None = None,
) -> str:
    """A token the gateway accepts when configured with the same `secret` (and issuer and
    audience, if set: for /mcp the audience must name its resource, `Settings.mcp_resource`,
    or the configured audience). A negative `ttl_seconds` gives an already-expired token."""
    if not secret:
        raise ValueError("a dev token needs a non-empty secret")
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": sub,
        "email": email,
        "roles": list(roles),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if name is not None:
        payload["name"] = name
    try:
        # Same rules as verification, so the CLI cannot mint a token the gateway would refuse.
        msgspec.convert(payload, Claims)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid dev token claims: {exc}") from None
    if issuer is not None:
        payload["iss"] = issuer
    if audience is not None:
        payload["aud"] = audience if isinstance(audience, str) else list(audience)
    return jwt.encode(payload, secret, algorithm="HS256")
