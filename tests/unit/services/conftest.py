"""Services as the MCP proxy will use them: no HTTP, memory stores and secrets, the shipped
policy on the embedded engine (the composition root builds it all: gateway/wiring.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from gateway.auth.claims import Claims
from gateway.config import Settings
from gateway.domain.subjects import Subject
from gateway.wiring import Runtime, open_runtime
from tests.fixtures.gateway import JWT_SECRET


@pytest_asyncio.fixture
async def runtime() -> AsyncIterator[Runtime]:
    opened = await open_runtime(Settings(jwt_secret=JWT_SECRET))
    try:
        yield opened
    finally:
        await opened.aclose()


async def subject(runtime: Runtime, user: str, email: str | None = None) -> Subject:
    """The subject as authentication resolves it now (memberships read from the store)."""
    claims = Claims(sub=user, email=email or f"{user}@example.com", exp=4_000_000_000)
    return await runtime.services.authenticator.resolver.resolve(claims)
