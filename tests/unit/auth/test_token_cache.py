"""Verified tokens are remembered until their `exp` (at most a minute), and only verified
ones: a bad token is checked, and refused, every time."""

from __future__ import annotations

import time

import jwt
import pytest

from gateway.auth import TokenVerifier
from gateway.auth.token_cache import VerifiedTokenCache
from gateway.errors import Unauthenticated

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _token(exp_in: float, secret: str = SECRET) -> str:
    payload = {"sub": "alice", "email": "alice@example.com", "exp": int(time.time() + exp_in)}
    return jwt.encode(payload, secret, algorithm="HS256")


def _verifier(clock: Clock) -> TokenVerifier:
    return TokenVerifier(
        secret=SECRET, leeway_seconds=0, cache=VerifiedTokenCache(max_age_seconds=60, clock=clock)
    )


async def test_a_verified_token_is_remembered_until_it_expires() -> None:
    clock = Clock()
    verifier = _verifier(clock)
    token = _token(exp_in=30)
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    assert verifier.cache.hits == 1
    clock.now += 31  # past exp: not answered from memory; pyjwt's own clock decides
    assert verifier.cache.get(token) is None


async def test_no_token_is_remembered_longer_than_the_bound() -> None:
    clock = Clock()
    verifier = _verifier(clock)
    token = _token(exp_in=3600)
    await verifier.verify(token)
    clock.now += 59
    assert verifier.cache.get(token) is not None
    clock.now += 2
    assert verifier.cache.get(token) is None


async def test_a_refused_token_is_never_remembered() -> None:
    verifier = _verifier(Clock())
    forged = _token(exp_in=600, secret="another-secret-" + "fedcba9876543210" * 4)
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="invalid signature"):
            await verifier.verify(forged)
    assert verifier.cache.hits == 0


def test_the_cache_is_bounded() -> None:
    cache = VerifiedTokenCache(max_tokens=3)
    from gateway.auth.claims import Claims

    claims = Claims(sub="a", email="a@example.com", exp=int(time.time()) + 600)
    for i in range(5):
        cache.put(f"t{i}", claims, expires_at=time.time() + 600)
    assert [cache.get(f"t{i}") is not None for i in range(5)] == [False, False, True, True, True]
