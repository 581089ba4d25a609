"""A stolen token's worth is bounded: a maximum lifetime, and an HS256 secret long enough
that it cannot be guessed (a one-byte secret used to be accepted at startup)."""

from __future__ import annotations

import time

import jwt
import pytest

from gateway.auth import TokenVerifier
from gateway.config import ConfigError, Settings
from gateway.errors import Unauthenticated

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4


def _token(**payload: object) -> str:
    return jwt.encode({"sub": "u", "email": "u@example.com", **payload}, SECRET, "HS256")


def _verifier(**settings: object) -> TokenVerifier:
    return TokenVerifier.from_settings(Settings(jwt_secret=SECRET, **settings))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("iat_ago", "exp_in", "ok"),
    [
        (0, 3600, True),
        (0, 86400, True),
        (0, 86400 + 3600, False),  # a day and an hour
        (86000, 1000, False),  # issued long ago, valid a day and more in total
        (None, 86400 - 60, True),  # no iat: counted from now
        (None, 10 * 86400, False),
    ],
)
async def test_token_lifetime_is_bounded(iat_ago: int | None, exp_in: int, ok: bool) -> None:
    now = int(time.time())
    payload: dict[str, object] = {"exp": now + exp_in}
    if iat_ago is not None:
        payload["iat"] = now - iat_ago
    verifier = _verifier()
    if ok:
        assert (await verifier.verify(_token(**payload))).sub == "u"
    else:
        with pytest.raises(Unauthenticated, match="token lifetime exceeds 86400 s"):
            await verifier.verify(_token(**payload))


async def test_the_maximum_lifetime_is_a_setting() -> None:
    now = int(time.time())
    token = _token(iat=now, exp=now + 7200)
    assert (await _verifier().verify(token)).sub == "u"
    with pytest.raises(Unauthenticated, match="exceeds 3600 s"):
        await _verifier(jwt_max_lifetime_seconds=3600).verify(token)
    with pytest.raises(ConfigError, match="GATEWAY_JWT_MAX_LIFETIME_SECONDS"):
        Settings(jwt_secret=SECRET, jwt_max_lifetime_seconds=10).validate()


@pytest.mark.parametrize("secret", ["x", "short-secret", "a" * 31])
def test_a_short_hs256_secret_is_a_startup_error(secret: str) -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        TokenVerifier.from_settings(Settings(jwt_secret=secret))


def test_a_32_byte_secret_is_enough() -> None:
    assert TokenVerifier.from_settings(Settings(jwt_secret="a" * 32)).algorithms == {"HS256"}


def test_gateway_serve_refuses_a_short_secret_before_starting() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve"],
        env={"GATEWAY_JWT_SECRET": "x", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "GATEWAY_JWT_SECRET: at least 32 bytes" in done.stderr
