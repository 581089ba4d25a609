"""The Python SDK's own MCP client, pointed at the gateway with a bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.fixtures.gateway import token_for


@asynccontextmanager
async def mcp_session(url: str, user: str, **claims: object) -> AsyncIterator[ClientSession]:
    token = token_for(user, **claims)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(20, read=60)) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def api(base_url: str, user: str, **claims: object) -> httpx.AsyncClient:
    """The gateway's /v1 API as `user`."""
    token = token_for(user, **claims)  # type: ignore[arg-type]
    return httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
