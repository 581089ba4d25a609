"""What the reliability tests share: users talking to a real gateway process over HTTP
(httpx.AsyncClient), setup steps that must succeed, and reading a whole merged view."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.fixtures.gateway import token_for


def server(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "transport": "stdio", "command": "uvx", "args": ["x"], **extra}


class User:
    """One user with a client of their own (their own connections, as separate apps have)."""

    def __init__(self, base_url: str, user_id: str) -> None:
        self.id = user_id
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token_for(user_id)}"},
            timeout=15,
        )

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, url, **kwargs)

    async def must(self, status: int, method: str, url: str, **kwargs: Any) -> Any:
        """A setup step: it must answer `status`; its JSON body (or None)."""
        response = await self.http.request(method, url, **kwargs)
        assert response.status_code == status, f"{method} {url}: {response.text}"
        return response.json() if response.content else None

    async def view(self) -> list[dict[str, Any]]:
        """The whole merged view, every page."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = await self.must(200, "GET", "/v1/mcp-servers", params=params)
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    async def aclose(self) -> None:
        await self.http.aclose()


async def users(base_url: str, *ids: str) -> list[User]:
    return [User(base_url, user_id) for user_id in ids]


async def organization(owner: User, members: list[User], name: str = "acme") -> str:
    """An organization owned by `owner`, each of `members` invited and accepted."""
    ent = (await owner.must(201, "POST", "/v1/enterprises", json={"name": name}))["id"]
    for member in members:
        await owner.must(
            202, "PUT", f"/v1/enterprises/{ent}/members/{member.id}", json={"role": "member"}
        )
        await member.must(200, "POST", f"/v1/invitations/{ent}/accept")
    return str(ent)


async def until_ready(base_url: str, within: float = 20.0) -> None:
    """Poll /readyz until 200: recovery is the gateway's own doing (no restart), and this
    bounds how long the test waits for it."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while True:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the gateway did not become ready again"
            await asyncio.sleep(0.1)
