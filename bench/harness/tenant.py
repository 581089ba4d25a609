"""The seeded tenant, through the gateway's HTTP API: who is measured and what they see.

At `--scale N` the measured user `bench` belongs to 3 enterprises (accepted invitations;
owned by owner0..2; memberships stay 3 at every scale: they set the number of generations
the view cache reads and the size of the policy input, which a real user does not multiply)
and owns 20·N personal servers (every other one from a marketplace listing); each
enterprise has 10·N servers, half auto-enabled, so the merged view holds 20·N + 15·N (at
most one page of 500); the marketplace catalog has 200·N listings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bench._auth import bearer
from bench._catalog import listing_id

USER = "bench"
OWNERS = ("owner0", "owner1", "owner2")
PERSONAL = 20  # x scale
ENTERPRISE_SERVERS = 10  # per enterprise, x scale; every other one auto-enabled
LISTINGS = 200  # x scale
VIEW_PATH = "/v1/mcp-servers?limit=500"  # the whole view in one page (max page 500)


@dataclass
class Tenant:
    scale: int
    server_id: str = ""
    server_ids: list[str] = field(default_factory=list)
    view_bytes: bytes = b""
    view_content_type: str = ""
    view_etag: str = ""  # the gateway's ETag of the whole-view page ("" if it sends none)
    view_items: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Api:
    def __init__(self, base: str, user: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=base, headers=bearer(user), timeout=60)

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.client.request(method, path, json=body)
        if response.status_code != expect:
            raise SystemExit(f"seeding: {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None


def seed(base: str, scale: int) -> Tenant:
    started = time.monotonic()
    tenant = Tenant(scale)
    me = Api(base, USER)
    personal = PERSONAL * scale
    per_enterprise = ENTERPRISE_SERVERS * scale
    first_id = ""
    for i in range(personal):
        body: dict[str, Any] = {"name": f"personal {i}", "description": f"personal server {i}"}
        if i % 2 == 0:
            body |= {
                "transport": "stdio",
                "command": "npx",
                "args": ["-y", f"@bench/server-{i}"],
                "env": ["BENCH_TOKEN"],
                "marketplace_listing_id": listing_id(i),
            }
        else:
            body |= {"transport": "streamable_http", "url": f"https://mcp.example.com/u/{i}"}
        created = me.call("POST", "/v1/mcp-servers", body, expect=201)
        first_id = first_id or created["id"]
        tenant.server_ids.append(created["id"])
    auto = 0
    for e, owner_name in enumerate(OWNERS):
        owner = Api(base, owner_name)
        ent = owner.call("POST", "/v1/enterprises", {"name": f"Enterprise {e}"}, expect=201)["id"]
        owner.call("PUT", f"/v1/enterprises/{ent}/members/{USER}", {"role": "member"}, expect=202)
        me.call("POST", f"/v1/invitations/{ent}/accept")
        for j in range(per_enterprise):
            body = {
                "name": f"enterprise {e} server {j}",
                "description": f"approved by enterprise {e}",
                "auto_enabled": j % 2 == 0,
            }
            if j % 2 == 0:
                listing = personal + e * per_enterprise + j
                body |= {
                    "transport": "stdio",
                    "command": "uvx",
                    "args": [f"bench-server-{listing}"],
                    "marketplace_listing_id": listing_id(listing),
                }
            else:
                body |= {"transport": "streamable_http", "url": f"https://mcp.example.com/{e}/{j}"}
            owner.call("POST", f"/v1/enterprise/mcp-servers?enterprise_id={ent}", body, expect=201)
            auto += j % 2 == 0
        owner.client.close()
    expected = min(personal + auto, 500)
    view = me.client.get(VIEW_PATH)
    items = view.json()["items"]
    if view.status_code != 200 or len(items) != expected:
        raise SystemExit(f"seeding: the view has {len(items)} items, expected {expected}")
    me.client.close()
    tenant.server_id = first_id
    tenant.view_bytes = view.content
    tenant.view_content_type = view.headers["content-type"]
    tenant.view_etag = view.headers.get("etag", "")
    tenant.view_items = len(items)
    tenant.counts = {
        "enterprises": len(OWNERS),
        "personal_servers": personal,
        "enterprise_servers": per_enterprise * len(OWNERS),
        "auto_enabled": auto,
        "listings": LISTINGS * scale,
        "view_items": len(items),
        "view_bytes": len(view.content),
    }
    tenant.seconds = round(time.monotonic() - started, 1)
    return tenant
