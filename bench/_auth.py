"""The benchmarks' callers: one HS256 secret the gateway under test is given, and a
development token per user (a day long: no run outlives it)."""

from __future__ import annotations

SECRET = "bench-secret-for-hs256-at-least-32-bytes!"
# The gateway under test is given GATEWAY_JWT_AUDIENCE=AUDIENCE: /mcp accepts only tokens
# whose `aud` names it (or its own resource), and /v1 then requires it too.
AUDIENCE = "mcp-policy-gateway-bench"


def token_for(user: str) -> str:
    # Imported here: with --gateway-src the harness mints with the measured checkout's gateway.
    from gateway.auth.dev_tokens import mint_dev_token

    return mint_dev_token(
        SECRET, sub=user, email=f"{user}@example.com", ttl_seconds=24 * 3600, audience=AUDIENCE
    )


def bearer(user: str) -> dict[str, str]:
    """The Authorization header of `user`."""
    return {"Authorization": f"Bearer {token_for(user)}"}
