"""The request a decision is taken for, as the policy sees it (`input.request`) and the
decision log groups it (`req_id`)."""

from __future__ import annotations

import msgspec


class RequestInfo(msgspec.Struct, kw_only=True, frozen=True):
    """`input.request`: what was asked, never a secret value."""

    method: str | None = None
    path: str | None = None
    req_id: str | None = None
    # For credential writes: the names of the env vars being set (values never).
    env_vars: list[str] | None = None


# Outside any request (startup probes, background work): nothing was asked over HTTP.
NO_REQUEST = RequestInfo()
