"""`Idempotency-Key` on the creating POSTs (ADR-0042): a retried create gets the first answer
and creates nothing; misuse is refused; failures are not kept; the policy decides replays.
On the memory stores, one Redis and a Redis Cluster (and, in the OPA pass, on a real OPA)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import msgspec
import pytest
import redis.asyncio as aredis

from gateway.api.idempotency import fingerprint_of, scope_of
from gateway.config import ConfigError, Settings, load_settings
from gateway.domain.servers import ServerCreate
from gateway.stores.idempotency import KeyRecord, MemoryIdempotencyStore, StoredResponse
from gateway.stores.redis.idempotency import RedisIdempotencyStore, idempotency_key
from tests.fixtures.gateway import AppFactory, Caller, caller, join, on_app_loop

HTTP = {"name": "sentry", "transport": "streamable_http", "url": "https://mcp.sentry.dev/mcp"}
OTHER = {**HTTP, "name": "other"}


def _key(value: str | bytes) -> dict[str, str | bytes]:
    return {"Idempotency-Key": value}


async def _items(who: Caller, url: str = "/v1/mcp-servers") -> list[dict[str, object]]:
    listed = await who.get(url)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, object]] = listed.json()["items"]
    return items


async def test_a_retried_create_returns_the_first_result(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    first = await alice.post("/v1/mcp-servers", json=HTTP, headers=_key("k-1"))
    assert first.status_code == 201, first.text
    # The same payload, spelled differently (key order, whitespace, the draft's quoted form).
    respelled = json.dumps(dict(reversed(list(HTTP.items()))), indent=2)
    retried = await alice.post(
        "/v1/mcp-servers",
        content=respelled,
        headers={**_key('"k-1"'), "Content-Type": "application/json"},
    )
    assert retried.status_code == 201, retried.text
    assert retried.content == first.content
    assert retried.headers["location"] == first.headers["location"]
    assert retried.headers["etag"] == first.headers["etag"]
    assert [s["id"] for s in await _items(alice)] == [first.json()["id"]]

    # Another key is another create.
    again = await alice.post("/v1/mcp-servers", json=HTTP, headers=_key("k-2"))
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]
    assert len(await _items(alice)) == 2


async def test_the_same_key_with_another_payload_is_a_422(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    assert (await alice.post("/v1/mcp-servers", json=HTTP, headers=_key("k"))).status_code == 201
    reused = await alice.post("/v1/mcp-servers", json=OTHER, headers=_key("k"))
    assert reused.status_code == 422, reused.text
    assert reused.json()["status_code"] == 422 and "Idempotency-Key" in reused.json()["detail"]
    assert [s["name"] for s in await _items(alice)] == ["sentry"]


async def test_keys_belong_to_the_caller_and_the_route(client_as: Callable[..., Caller]) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    alices = await alice.post("/v1/mcp-servers", json=HTTP, headers=_key("shared"))
    bobs = await bob.post("/v1/mcp-servers", json=HTTP, headers=_key("shared"))
    assert bobs.status_code == 201, bobs.text
    assert bobs.json()["id"] != alices.json()["id"] and bobs.json()["user_id"] == "bob"
    ent = await alice.post("/v1/enterprises", json={"name": "Acme"}, headers=_key("shared"))
    assert ent.status_code == 201 and ent.json()["id"].startswith("ent_"), ent.text
    assert [s["id"] for s in await _items(alice)] == [alices.json()["id"]]


@pytest.mark.parametrize("header", ["", "has space", "x" * 129, "caf\u00e9".encode(), "a;b", '"'])
async def test_a_malformed_key_is_a_400_naming_the_header(
    client_as: Callable[..., Caller], header: str | bytes
) -> None:
    alice = client_as("alice")
    response = await alice.post("/v1/mcp-servers", json=HTTP, headers=_key(header))
    assert response.status_code == 400, response.text
    assert [e["key"] for e in response.json()["extra"]] == ["Idempotency-Key"]
    assert await _items(alice) == []


async def test_a_key_still_in_flight_is_a_409(client_as: Callable[..., Caller]) -> None:
    """A request holding the key (claimed, not answered) — as a slower replica would."""
    alice = client_as("alice")
    store = alice.client.app.state.runtime.stores.idempotency
    scope = scope_of("POST", "/v1/mcp-servers", "busy")
    payload = msgspec.convert(HTTP, ServerCreate)
    claimed = await on_app_loop(
        alice.client, store.begin("alice", scope, fingerprint_of([], payload), "other-request")
    )
    assert claimed is None
    busy = await alice.post("/v1/mcp-servers", json=HTTP, headers=_key("busy"))
    assert busy.status_code == 409, busy.text
    assert "in progress" in busy.json()["detail"] and await _items(alice) == []
    await on_app_loop(alice.client, store.release("alice", scope, "other-request"))
    done = await alice.post("/v1/mcp-servers", json=HTTP, headers=_key("busy"))
    assert done.status_code == 201, done.text


async def test_a_failed_create_is_not_kept_and_is_decided_again(
    client_as: Callable[..., Caller],
) -> None:
    """A member may not approve servers (403); once made an admin, the same request with the
    same key creates — the denial was not replayed, nor a failure replayed as success."""
    alice, bob = client_as("alice"), client_as("bob")
    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(alice, bob, ent, "member")
    url = f"/v1/enterprise/mcp-servers?enterprise_id={ent}"
    denied = await bob.post(url, json=HTTP, headers=_key("approve"))
    assert denied.status_code == 403, denied.text
    again = await bob.post(url, json=HTTP, headers=_key("approve"))
    assert again.status_code == 403
    assert again.headers["x-decision-id"] != denied.headers["x-decision-id"]  # decided anew

    promoted = await alice.put(f"/v1/enterprises/{ent}/members/bob", json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    created = await bob.post(url, json=HTTP, headers=_key("approve"))
    assert created.status_code == 201, created.text
    replayed = await bob.post(url, json=HTTP, headers=_key("approve"))
    assert replayed.status_code == 201 and replayed.content == created.content
    assert len(await _items(bob, f"/v1/enterprise/mcp-servers?enterprise_id={ent}")) == 1


async def test_a_replay_is_decided_by_the_policy(client_as: Callable[..., Caller]) -> None:
    """An admin created a server with a key, then left the enterprise: the same retry is the
    404 a non-member gets, not the stored 201 and its body."""
    alice, carol = client_as("alice"), client_as("carol")
    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(alice, carol, ent, "admin")
    url = f"/v1/enterprise/mcp-servers?enterprise_id={ent}"
    created = await carol.post(url, json=HTTP, headers=_key("mine"))
    assert created.status_code == 201, created.text
    assert (await alice.delete(f"/v1/enterprises/{ent}/members/carol")).status_code == 204
    replay = await carol.post(url, json=HTTP, headers=_key("mine"))
    assert replay.status_code in (403, 404), replay.text
    assert created.json()["id"] not in replay.text
    # The personal kind too: a deleted server's retry is its 404, not a second server.
    mine = await alice.post("/v1/mcp-servers", json=HTTP, headers=_key("p"))
    assert (await alice.delete(mine.headers["location"])).status_code == 204
    assert (await alice.post("/v1/mcp-servers", json=HTTP, headers=_key("p"))).status_code == 404
    assert await _items(alice) == []


async def test_enterprise_creates_are_idempotent(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    first = await alice.post("/v1/enterprises", json={"name": "Acme"}, headers=_key("e"))
    second = await alice.post("/v1/enterprises", json={"name": "Acme"}, headers=_key("e"))
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    names = [e["name"] for e in (await alice.get("/v1/enterprises")).json()["items"]]
    assert names.count("Acme") == 1


async def test_a_retry_on_another_replica_is_replayed(
    gateway_settings: Settings, start_gateway: AppFactory, store_mode: str
) -> None:
    if store_mode == "memory":
        pytest.skip("replicas share keys only through Redis")
    one, two = await start_gateway(gateway_settings), await start_gateway(gateway_settings)
    first = await caller(one, "alice").post("/v1/mcp-servers", json=HTTP, headers=_key("r"))
    retried = await caller(two, "alice").post("/v1/mcp-servers", json=HTTP, headers=_key("r"))
    assert first.status_code == retried.status_code == 201
    assert retried.content == first.content
    assert len(await _items(caller(two, "alice"))) == 1


async def test_the_store_claims_once_and_only_the_holder_completes(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    store = alice.client.app.state.runtime.stores.idempotency
    answer = StoredResponse(status_code=201, body=b"{}", headers={}, resource_id="mcp_1")

    async def exercise() -> None:
        claims = await asyncio.gather(*(store.begin("u", "s", "f", f"t{i}") for i in range(20)))
        holders = [i for i, c in enumerate(claims) if c is None]
        assert len(holders) == 1  # exactly one request holds the key
        holder = f"t{holders[0]}"
        assert all(c is not None and c.token == holder for c in claims if c is not None)
        late = KeyRecord(token="t-late", fingerprint="f", response=answer)
        assert not await store.complete("u", "s", late)  # not the holder: nothing kept
        await store.release("u", "s", "t-late")  # not the holder: nothing freed
        assert (await store.begin("u", "s", "f", "x")) is not None
        done = KeyRecord(token=holder, fingerprint="f", response=answer)
        assert await store.complete("u", "s", done)
        assert await store.begin("u", "s", "f", "y") == done
        assert await store.begin("other-user", "s", "f", "z") is None  # scoped by subject

    await on_app_loop(alice.client, exercise())


async def test_claims_lapse_and_answers_are_kept_for_the_ttl(
    gateway_settings: Settings, store_mode: str
) -> None:
    """A claim lasts its lease (a crashed request frees its key); a kept answer the TTL."""
    answer = StoredResponse(status_code=201, body=b"{}", headers={}, resource_id="mcp_1")
    if store_mode == "memory":
        memory = MemoryIdempotencyStore(ttl_seconds=3600, lease_seconds=0.2)
        assert await memory.begin("u", "s", "f", "t1") is None
        await asyncio.sleep(0.3)
        assert await memory.begin("u", "s", "f", "t2") is None  # the lease lapsed
        assert await memory.complete("u", "s", KeyRecord(token="t2", fingerprint="f"))
        assert await memory.begin("u", "s", "f", "t3") is not None
        return
    assert gateway_settings.redis_url is not None
    client: aredis.Redis | aredis.RedisCluster = (
        aredis.RedisCluster.from_url(gateway_settings.redis_url)
        if store_mode == "cluster"
        else aredis.from_url(gateway_settings.redis_url)
    )
    try:
        store = RedisIdempotencyStore(client, ttl_seconds=3600, lease_seconds=0.2)
        assert await store.begin("u", "s", "f", "t1") is None
        assert 0 < await client.pttl(idempotency_key("u", "s")) <= 200
        await asyncio.sleep(0.3)
        assert await store.begin("u", "s", "f", "t2") is None
        kept = KeyRecord(token="t2", fingerprint="f", response=answer)
        assert await store.complete("u", "s", kept)
        assert 3_000_000 < await client.pttl(idempotency_key("u", "s")) <= 3_600_000
        assert await store.begin("u", "s", "f", "t3") == kept
    finally:
        await client.aclose()


def test_the_ttl_is_a_setting() -> None:
    assert load_settings({"GATEWAY_JWT_SECRET": "x" * 32}).idempotency_ttl_seconds == 86400
    env = {"GATEWAY_JWT_SECRET": "x" * 32, "GATEWAY_IDEMPOTENCY_TTL_SECONDS": "600"}
    assert load_settings(env).idempotency_ttl_seconds == 600
    with pytest.raises(ConfigError, match="GATEWAY_IDEMPOTENCY_TTL_SECONDS"):
        load_settings({**env, "GATEWAY_IDEMPOTENCY_TTL_SECONDS": "5"}).validate()
