"""The warm merged-view read in one Redis round trip on a single Redis (issue 26; two since
issue 12): the identity step reads ahead the cached view and the generations, and the view
cache uses them — still exact: a write by another replica in between is seen at once."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.audit import scope as request_scope
from gateway.config import Settings
from gateway.observability.redis_pool import MeasuredBlockingConnectionPool
from gateway.stores.redis.multiplexed import MultiplexedConnection
from gateway.stores.redis.subject_reads import RedisSubjectReads
from tests.fixtures.gateway import AppFactory, caller, join

SERVER = {"name": "time", "transport": "stdio", "command": "uvx"}


@pytest.mark.parametrize("store_mode", ["redis", "cluster"], indirect=True)
async def test_a_warm_read_uses_what_identity_read_ahead_and_stays_exact(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    reader, writer = await start_gateway(gateway_settings), await start_gateway(gateway_settings)
    cache = reader.app.state.runtime.stores.view_cache
    alice_w, bob_w = caller(writer, "alice"), caller(writer, "bob")
    alice = caller(reader, "alice")
    ent = (await bob_w.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(bob_w, alice_w, ent, "member")
    await alice_w.post("/v1/mcp-servers", json=SERVER)

    def ids(body: dict[str, list[dict[str, str]]]) -> list[str]:
        return [s["id"] for s in body["items"]]

    first = (await alice.get("/v1/mcp-servers")).json()  # computes and caches
    hits, ahead = cache.hits, cache.read_ahead
    assert (await alice.get("/v1/mcp-servers")).json() == first
    assert (cache.hits, cache.read_ahead) == (hits + 1, ahead + 1)  # no lookup round trip

    # Another replica changes the enterprise's servers: the next read ahead sees the new
    # generation, misses, and recomputes.
    created = await bob_w.post(
        f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json={**SERVER, "auto_enabled": True}
    )
    assert created.status_code == 201
    after = (await alice.get("/v1/mcp-servers")).json()
    assert created.json()["id"] in ids(after)
    assert cache.read_ahead == ahead + 2 and cache.hits == hits + 1
    # And a personal write is seen at once too.
    mine = (await alice_w.post("/v1/mcp-servers", json=SERVER)).json()["id"]
    assert mine in ids((await alice.get("/v1/mcp-servers")).json())


@pytest.mark.parametrize("store_mode", ["redis"], indirect=True)
async def test_a_warm_read_is_one_round_trip_on_one_redis(
    gateway_settings: Settings, start_gateway: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted where connections are taken, only inside the request (the decision log's
    batches are the writer's, off the request): one round trip on a single Redis — the
    subject read (rate count, memberships, generations, view) — for a member of two
    enterprises with auto-enabled servers. (A cluster takes three: count and hints, then
    the enterprises' pipeline; gateway/stores/redis/subject_reads.py.)"""
    gateway = await start_gateway(gateway_settings)
    alice, bob = caller(gateway, "alice"), caller(gateway, "bob")
    for name in ("Acme", "Globex"):
        ent = (await bob.post("/v1/enterprises", json={"name": name})).json()["id"]
        await join(bob, alice, ent, "member")
        created = await bob.post(
            f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json={**SERVER, "auto_enabled": True}
        )
        assert created.status_code == 201, created.text
    await alice.post("/v1/mcp-servers", json=SERVER)
    taken: list[str] = []
    original = MeasuredBlockingConnectionPool.get_connection
    sent = MultiplexedConnection.execute

    async def counting(self: MeasuredBlockingConnectionPool, *args: Any, **kwargs: Any) -> Any:
        if request_scope.current() is not None:
            taken.append("pool")
        return await original(self, *args, **kwargs)

    async def counting_shared(self: MultiplexedConnection, *args: Any) -> Any:
        if request_scope.current() is not None:
            taken.append("shared")
        return await sent(self, *args)

    first = await alice.get("/v1/mcp-servers")  # computes and caches
    assert len(first.json()["items"]) == 3
    monkeypatch.setattr(MeasuredBlockingConnectionPool, "get_connection", counting)
    monkeypatch.setattr(MultiplexedConnection, "execute", counting_shared)
    for _ in range(3):
        taken.clear()
        again = await alice.get("/v1/mcp-servers")
        assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
        assert taken == ["shared"]  # the subject read, pipelined with other requests
    # A miss costs more (the stores are read): the counting does see round trips.
    await alice.post("/v1/mcp-servers", json=SERVER)
    taken.clear()
    await alice.get("/v1/mcp-servers")
    assert len(taken) > 1


@pytest.mark.parametrize("store_mode", ["redis"], indirect=True)
async def test_the_entry_is_left_out_while_the_copy_here_is_current(
    gateway_settings: Settings, start_gateway: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The subject read sends the generations this process's copy of the view was found
    current with; while they all hold, Redis leaves the 15 KB entry out of its answer. When
    they move (a write through another replica) the entry comes back; when the copy is gone
    though they held, the view cache reads the entry itself — exact either way."""
    reader, writer = await start_gateway(gateway_settings), await start_gateway(gateway_settings)
    cache = reader.app.state.runtime.stores.view_cache
    alice, alice_w = caller(reader, "alice"), caller(writer, "alice")
    await alice_w.post("/v1/mcp-servers", json=SERVER)
    left_out: list[bool] = []
    run = RedisSubjectReads._run

    async def watched(self: RedisSubjectReads, keys: list[str], args: list[Any]) -> list[Any]:
        reply = await run(self, keys, args)
        left_out.append(bool(reply[4]))
        assert (reply[3] is None) if reply[4] else True  # left out: no bytes sent
        return reply

    monkeypatch.setattr(RedisSubjectReads, "_run", watched)
    first = (await alice.get("/v1/mcp-servers")).json()
    assert (await alice.get("/v1/mcp-servers")).json() == first
    assert left_out == [False, True]  # no copy yet; then the copy held

    mine = (await alice_w.post("/v1/mcp-servers", json=SERVER)).json()["id"]
    changed = (await alice.get("/v1/mcp-servers")).json()
    assert mine in [s["id"] for s in changed["items"]] and left_out[-1] is False

    reads = cache.entry_reads
    cache._local.clear()  # the copy gone, what it held still known: the entry is read
    assert (await alice.get("/v1/mcp-servers")).json() == changed
    assert left_out[-1] is True and cache.entry_reads == reads + 1
    assert (await alice.get("/v1/mcp-servers")).json() == changed and left_out[-1] is True
    assert cache.entry_reads == reads + 1  # the copy is back
