"""Consistency under load: two gateway processes on one Redis, many clients mixing personal
server creates, updates and deletes, enterprise server approvals and `auto_enabled` toggles,
invitations (accepted, declined, revoked), role changes and removals, for a bounded time.
Every acknowledged write is recorded by the client; afterwards the stored state is exactly
what was acknowledged — through the API of both replicas and in Redis itself — and every
user's merged view is what the policy says: their personal servers plus the auto-enabled
servers of each enterprise they are an active member of, each with its `source`.

Each actor's writes are sequential, so its part of the state is known exactly at every step:
a user owns their personal servers; an enterprise's owner runs its servers and its
memberships (the invitee's accept or decline happens inside that sequence). Reads after
each step go to a replica picked at random, so a view that lags a write on the other
replica is caught as it happens, not only at the end."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fixtures.live_gateway import live_gateway
from tests.reliability.conftest import DoomedRedis
from tests.reliability.load import User, server

pytestmark = pytest.mark.reliability

LOAD_SECONDS = 5.0
USERS = [f"user{i}" for i in range(6)]
OWNERS = ["owner0", "owner1"]


class Replicas:
    """The same user on each gateway replica; every call goes to one picked at random."""

    def __init__(self, base_urls: list[str], user_id: str, rng: random.Random) -> None:
        self.id = user_id
        self.on = [User(url, user_id) for url in base_urls]
        self.rng = rng

    def any(self) -> User:
        return self.rng.choice(self.on)

    async def must(self, status: int, method: str, url: str, **kwargs: Any) -> Any:
        return await self.any().must(status, method, url, **kwargs)

    async def aclose(self) -> None:
        for user in self.on:
            await user.aclose()


@dataclass
class Enterprise:
    id: str
    servers: dict[str, bool] = field(default_factory=dict)  # id -> auto_enabled
    members: dict[str, str] = field(default_factory=dict)  # active: user -> role
    invited: dict[str, str] = field(default_factory=dict)  # user -> role

    def auto(self) -> set[str]:
        return {s for s, auto in self.servers.items() if auto}


@dataclass
class Model:
    """What the clients were told: the state every acknowledged write adds up to."""

    personal: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    enterprises: dict[str, Enterprise] = field(default_factory=dict)
    writes: int = 0

    def view(self, user: str) -> dict[str, tuple[str, str]]:
        """id -> (source, owner) as the policy defines the merged view."""
        expected = {sid: ("personal", user) for sid in self.personal.get(user, {})}
        for ent in self.enterprises.values():
            if user in ent.members:
                expected |= {sid: ("enterprise", ent.id) for sid in ent.auto()}
        return expected


def _as_view(items: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), f"a server twice in one view: {ids}"
    return {
        item["id"]: (
            item["source"],
            item["user_id"] if item["source"] == "personal" else item["enterprise_id"],
        )
        for item in items
    }


async def _personal_actor(me: Replicas, model: Model, until: float, rng: random.Random) -> None:
    mine = model.personal.setdefault(me.id, {})
    n = 0
    while time.monotonic() < until:
        choice = rng.random()
        if not mine or choice < 0.5:
            n += 1
            made = await me.must(201, "POST", "/v1/mcp-servers", json=server(f"{me.id}-{n}"))
            mine[made["id"]] = {"name": made["name"], "enabled": made["enabled"]}
        elif choice < 0.8:
            sid = rng.choice(sorted(mine))
            enabled = not mine[sid]["enabled"]
            patched = await me.must(
                200, "PATCH", f"/v1/mcp-servers/{sid}", json={"enabled": enabled}
            )
            assert patched["enabled"] is enabled
            mine[sid]["enabled"] = enabled
        else:
            sid = rng.choice(sorted(mine))
            await me.must(204, "DELETE", f"/v1/mcp-servers/{sid}")
            del mine[sid]
        model.writes += 1
        # Read your writes, on either replica: the personal part is exactly what is acked.
        items = (await me.must(200, "GET", "/v1/mcp-servers", params={"limit": 500}))["items"]
        personal = {i["id"]: i["enabled"] for i in items if i["source"] == "personal"}
        assert personal == {sid: s["enabled"] for sid, s in mine.items()}, me.id


async def _enterprise_actor(
    owner: Replicas,
    ent: Enterprise,
    people: dict[str, Replicas],
    model: Model,
    until: float,
    rng: random.Random,
) -> None:
    """The owner's sequence: approve, toggle and remove servers; invite, let the invitee
    accept or decline, change roles, remove members and revoke invitations."""
    base = f"/v1/enterprise/mcp-servers?enterprise_id={ent.id}"
    members_url = f"/v1/enterprises/{ent.id}/members"
    n = 0
    while time.monotonic() < until:
        choice = rng.random()
        user = rng.choice(USERS)
        if choice < 0.2 or not ent.servers:
            n += 1
            auto = rng.random() < 0.6
            body = server(f"{ent.id}-{n}", auto_enabled=auto)
            made = await owner.must(201, "POST", base, json=body)
            assert made["auto_enabled"] is auto
            ent.servers[made["id"]] = auto
        elif choice < 0.35:
            sid = rng.choice(sorted(ent.servers))
            auto = not ent.servers[sid]
            url = f"/v1/enterprise/mcp-servers/{sid}?enterprise_id={ent.id}"
            await owner.must(200, "PATCH", url, json={"auto_enabled": auto})
            ent.servers[sid] = auto
        elif choice < 0.45:
            sid = rng.choice(sorted(ent.servers))
            url = f"/v1/enterprise/mcp-servers/{sid}?enterprise_id={ent.id}"
            await owner.must(204, "DELETE", url)
            del ent.servers[sid]
        elif user in ent.members and choice < 0.7:
            if rng.random() < 0.5:
                await owner.must(204, "DELETE", f"{members_url}/{user}")
                del ent.members[user]
            else:
                role = "admin" if ent.members[user] == "member" else "member"
                changed = await owner.must(200, "PUT", f"{members_url}/{user}", json={"role": role})
                assert changed["role"] == role
                ent.members[user] = role
        elif user not in ent.members:
            role = rng.choice(["member", "admin"])
            invited = await owner.must(202, "PUT", f"{members_url}/{user}", json={"role": role})
            assert invited["status"] == "invited"
            ent.invited[user] = role
            answer = rng.random()
            if answer < 0.6:
                accepted = await people[user].must(200, "POST", f"/v1/invitations/{ent.id}/accept")
                assert accepted["role"] == role
                ent.members[user] = ent.invited.pop(user)
            elif answer < 0.8:
                await people[user].must(204, "DELETE", f"/v1/invitations/{ent.id}")
                del ent.invited[user]
            elif answer < 0.9:
                await owner.must(204, "DELETE", f"{members_url}/{user}")  # revoked
                del ent.invited[user]
            # else: left pending
        else:
            continue
        model.writes += 1
        # This enterprise's part of someone's view, on either replica: exactly its
        # auto-enabled servers for an active member, nothing for anyone else.
        reader = people[rng.choice(USERS)]
        items = (await reader.must(200, "GET", "/v1/mcp-servers", params={"limit": 500}))["items"]
        from_here = {i["id"] for i in items if i.get("enterprise_id") == ent.id}
        expected = ent.auto() if reader.id in ent.members else set()
        assert from_here == expected, (reader.id, ent.id)


def _redis_ids(url: str) -> tuple[dict[str, set[str]], set[str]]:
    """Straight from Redis: each owner's server records, and every server locator."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        records: dict[str, set[str]] = {}
        for key in client.scan_iter(match="gw:{*}:srv:*", count=1000):
            tag, _, sid = key.partition("}:srv:")
            records.setdefault(tag.removeprefix("gw:{").split(":", 1)[1], set()).add(sid)
        locators = {
            key.split("{", 1)[1].rstrip("}")
            for pattern in ("gw:loc:*", "gw:eloc:*")
            for key in client.scan_iter(match=pattern, count=1000)
        }
        for owner, ids in records.items():  # each index set equals the records
            index = "u" if not owner.startswith("ent_") else "e"
            assert client.smembers(f"gw:{{{index}:{owner}}}:srvs") == ids, owner
        return records, locators
    finally:
        client.close()


async def _run(base_urls: list[str], redis_url: str) -> Model:
    rng = random.Random(1313)
    people = {u: Replicas(base_urls, u, random.Random(rng.random())) for u in USERS + OWNERS}
    model = Model()
    try:
        owners = {}
        for owner in OWNERS:
            made = await people[owner].must(201, "POST", "/v1/enterprises", json={"name": owner})
            model.enterprises[made["id"]] = Enterprise(made["id"], members={owner: "owner"})
            owners[made["id"]] = owner
        until = time.monotonic() + LOAD_SECONDS
        actors = [
            _personal_actor(people[u], model, until, random.Random(rng.random())) for u in USERS
        ]
        actors += [
            _enterprise_actor(
                people[owners[ent.id]],
                ent,
                people,
                model,
                until,
                random.Random(rng.random()),
            )
            for ent in model.enterprises.values()
        ]
        await asyncio.gather(*actors)

        # Afterwards, on both replicas: each view exactly what the policy says.
        for user in USERS + OWNERS:
            for replica in people[user].on:
                assert _as_view(await replica.view()) == model.view(user), user
        for ent in model.enterprises.values():
            for replica in people[owners[ent.id]].on:
                listed = await replica.must(
                    200,
                    "GET",
                    "/v1/enterprise/mcp-servers",
                    params={"enterprise_id": ent.id, "limit": 500},
                )
                assert {s["id"]: s["auto_enabled"] for s in listed["items"]} == ent.servers
                roster = await replica.must(200, "GET", f"/v1/enterprises/{ent.id}/members")
                assert {m["user_id"]: (m["role"], m["status"]) for m in roster["items"]} == {
                    **{u: (r, "invited") for u, r in ent.invited.items()},
                    **{u: (r, "active") for u, r in ent.members.items()},
                }
            for user in USERS:  # pending invitations as the invitee sees them
                pending = await people[user].must(200, "GET", "/v1/invitations")
                mine = {i["enterprise_id"] for i in pending["items"]}
                assert (ent.id in mine) == (user in ent.invited), (user, ent.id)

        # And in Redis: no lost, duplicated or phantom record, no orphan locator.
        records, locators = _redis_ids(redis_url)
        expected = {u: set(s) for u, s in model.personal.items() if s}
        expected |= {e.id: set(e.servers) for e in model.enterprises.values() if e.servers}
        assert records == expected
        assert locators == set().union(*expected.values())
        return model
    finally:
        for person in people.values():
            await person.aclose()


def test_two_replicas_under_mixed_load_store_exactly_what_was_acknowledged(
    tmp_path: Path, doomed_redis: type[DoomedRedis]
) -> None:
    redis_server = doomed_redis()
    env = {"GATEWAY_REDIS_URL": redis_server.url, "GATEWAY_RATE_LIMIT_REQUESTS": "100000"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        live_gateway(tmp_path / "a", **env) as first,
        live_gateway(tmp_path / "b", **env) as second,
    ):
        model = asyncio.run(_run([first.base_url, second.base_url], redis_server.url))
    assert model.writes > 50, f"too little load to show anything: {model.writes} writes"
