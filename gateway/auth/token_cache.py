"""Verified tokens remembered until they expire: a client sends the same bearer token on
every request, and checking its signature again each time cost ~5 % of a warm read.

Only tokens that passed every check are kept, with the time they stop being valid: their
`exp` (plus the verifier's leeway), and never more than `max_age_seconds` after they were
verified. A token signed by a JWKS key is kept with that key's id and object: the verifier
honours the memory only while the JWKS still serves that very key (a retired key's tokens
are refused as soon as the JWKS says so, as without the cache).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gateway.auth.claims import Claims

# (the key set, kid, the key object) of a JWKS-signed token; None for a shared secret.
Binding = tuple[Any, ...] | None

DEFAULT_MAX_TOKENS = 10_000
DEFAULT_MAX_AGE_SECONDS = 60.0


class VerifiedTokenCache:
    def __init__(
        self,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_tokens = max_tokens
        self._max_age = max_age_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Claims, Binding]] = OrderedDict()
        self.hits = 0

    def get(self, token: str) -> tuple[Claims, Binding] | None:
        found = self._entries.get(token)
        if found is None:
            return None
        valid_until, claims, binding = found
        if self._clock() >= valid_until:
            del self._entries[token]  # verified again: says "token expired" like the first time
            return None
        self._entries.move_to_end(token)
        self.hits += 1
        return claims, binding

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)

    def put(self, token: str, claims: Claims, expires_at: float, binding: Binding = None) -> None:
        now = self._clock()
        self._entries[token] = (min(expires_at, now + self._max_age), claims, binding)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_tokens:
            self._entries.popitem(last=False)
