"""`Idempotency-Key` on the creating POSTs (ADR-0042): a retried create gets the first answer
and creates nothing; misuse is refused; failures are not kept; the policy decides replays.
On the memory stores, one Redis and a Redis Cluster (and, in the OPA pass, on a real OPA)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import redis.asyncio as aredis

from gateway.api.idempotency import fingerprint_of, scope_of
from gateway.config import ConfigError, Settings, load_settings
from gateway.domain.servers import ServerCreate
from gateway.stores.idempotency import (
    MAX_KEPT_BODY_BYTES,
    MAX_KEPT_BYTES_PER_SUBJECT,
    MAX_KEPT_PER_SUBJECT,
    KeptUsage,
    KeyRecord,
    MemoryIdempotencyStore,
    StoredResponse,
    kept_size,
)
from gateway.stores.redis.idempotency import RedisIdempotencyStore, idempotency_key, kept_keys
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
        assert await client.exists(idempotency_key("u", "s")) == 0  # the claim became an answer
        for key in kept_keys("u"):
            assert 3_000_000 < await client.pttl(key) <= 3_600_000
        assert await store.begin("u", "s", "f", "t3") == kept
    finally:
        await client.aclose()


# ---- bounds (issue 22: 30 create+delete cycles, each with a new key, kept 30 answers for a
# day, 11.5 MB in Redis; 200 in memory, +123 MiB RSS; and 0 servers left: around the quota)

# Past both bounds: 300 answers of about 6 KB would be about 1.8 MB and 300 of them, against
# 1 MiB and 256 (the store's own test checks each bound exactly).
CYCLES = 300
SIZABLE = {**HTTP, "description": "d" * 2000, "args": [], "env": ["A_TOKEN"]}
SIZABLE["headers"] = {f"X-Header-{i}": "v" * 400 for i in range(10)}


def _redis(settings: Settings, store_mode: str) -> aredis.Redis | aredis.RedisCluster:
    assert settings.redis_url is not None
    if store_mode == "cluster":
        return aredis.RedisCluster.from_url(settings.redis_url)
    return aredis.from_url(settings.redis_url)


@pytest.mark.parametrize("store_mode", ["memory", "redis"], indirect=True)
async def test_kept_answers_stay_within_the_bound_per_subject(
    gateway_settings: Settings, start_gateway: AppFactory, store_mode: str
) -> None:
    settings = msgspec.structs.replace(gateway_settings, rate_limit_requests=0)
    alice = caller(await start_gateway(settings), "alice")
    store = alice.client.app.state.runtime.stores.idempotency
    first = ""
    for cycle in range(CYCLES):
        created = await alice.post("/v1/mcp-servers", json=SIZABLE, headers=_key(f"c-{cycle}"))
        assert created.status_code == 201, created.text
        first = first or created.json()["id"]
        assert (await alice.delete(created.headers["location"])).status_code == 204
    usage = await on_app_loop(alice.client, store.usage("alice"))
    print(f"\n[{store_mode}] {CYCLES} cycles: {usage.count} answers kept, {usage.bytes} bytes")
    assert usage.count <= MAX_KEPT_PER_SUBJECT and usage.bytes <= MAX_KEPT_BYTES_PER_SUBJECT
    assert usage.bytes > MAX_KEPT_BYTES_PER_SUBJECT // 2  # the bound, not an emptied store
    if store_mode == "redis":
        client = _redis(settings, store_mode)
        try:
            found = [key async for key in client.scan_iter(match="gw:{u:alice}:idem*")]
            used = sum([await client.memory_usage(key) or 0 for key in found])
        finally:
            await client.aclose()
        print(f"[redis] {len(found)} keys, MEMORY USAGE {used} bytes")
        assert len(found) == 2  # the kept answers and their order; no claim left
        assert used <= 2 * MAX_KEPT_BYTES_PER_SUBJECT
    # The newest answer is still replayed; the oldest was forgotten: its retry runs again.
    last = f"c-{CYCLES - 1}"
    replayed = await alice.post("/v1/mcp-servers", json=SIZABLE, headers=_key(last))
    assert replayed.status_code == 404  # replayed: what it created was deleted
    again = await alice.post("/v1/mcp-servers", json=SIZABLE, headers=_key("c-0"))
    assert again.status_code == 201 and again.json()["id"] != first


@pytest.mark.parametrize("store_mode", ["memory", "redis", "cluster"], indirect=True)
async def test_the_store_forgets_the_oldest_beyond_its_bounds(
    gateway_settings: Settings, store_mode: str
) -> None:
    """The store contract: a count and a byte bound per subject, the oldest forgotten first,
    never the answer just kept, another subject untouched; kept answers end with the TTL."""
    answer = StoredResponse(status_code=201, body=b"{}", headers={}, resource_id="mcp_1")
    size = kept_size(KeyRecord(token="t-0", fingerprint="f", response=answer))
    client = None if store_mode == "memory" else _redis(gateway_settings, store_mode)

    def store(**bounds: Any) -> Any:
        if client is None:
            return MemoryIdempotencyStore(ttl_seconds=1, **bounds)
        return RedisIdempotencyStore(client, ttl_seconds=1, **bounds)

    async def keep(keys: Any, subject: str, scope: str) -> None:
        assert await keys.begin(subject, scope, "f", "t-0") is None
        done = KeyRecord(token="t-0", fingerprint="f", response=answer)
        assert await keys.complete(subject, scope, done)

    try:
        by_count = store(max_kept=3)
        for n in range(5):
            await keep(by_count, "u", f"s{n}")
        await keep(by_count, "v", "s0")
        assert await by_count.usage("u") == KeptUsage(count=3, bytes=3 * size)
        assert await by_count.begin("u", "s4", "f", "x") is not None  # the newest: kept
        assert await by_count.begin("u", "s2", "f", "x") is not None
        assert await by_count.begin("u", "s1", "f", "x") is None  # forgotten: claimed anew
        assert await by_count.begin("v", "s0", "f", "x") is not None  # another subject's

        by_bytes = store(max_kept_bytes=2 * size)
        for n in range(4):
            await keep(by_bytes, "w", f"s{n}")
        assert await by_bytes.usage("w") == KeptUsage(count=2, bytes=2 * size)
        alone = store(max_kept_bytes=1)  # one answer larger than the bound: still kept
        await keep(alone, "x", "s0")
        await keep(alone, "x", "s1")
        assert await alone.usage("x") == KeptUsage(count=1, bytes=size)

        await asyncio.sleep(1.1)  # the TTL
        assert await by_count.usage("u") == KeptUsage(count=0, bytes=0)
        assert await by_count.begin("u", "s4", "f", "y") is None
    finally:
        if client is not None:
            await client.aclose()


@pytest.mark.parametrize("store_mode", ["memory", "redis"], indirect=True)
async def test_an_answer_too_large_to_keep_is_replayed_as_the_resource_is_now(
    client_as: Callable[..., Caller],
) -> None:
    """Its body is not kept (only its id and Location): a retry creates nothing and gets
    the server as it is then, with its ETag then."""
    alice = client_as("alice")
    store = alice.client.app.state.runtime.stores.idempotency
    large = {**HTTP, "args": [], "headers": {f"X-H{i}": "v" * 4000 for i in range(20)}}
    first = await alice.post("/v1/mcp-servers", json=large, headers=_key("large"))
    assert first.status_code == 201 and len(first.content) > MAX_KEPT_BODY_BYTES
    usage = await on_app_loop(alice.client, store.usage("alice"))
    assert usage.count == 1 and usage.bytes < 2048
    retried = await alice.post("/v1/mcp-servers", json=large, headers=_key("large"))
    assert retried.status_code == 201
    assert retried.content == first.content and retried.headers["etag"] == first.headers["etag"]
    assert retried.headers["location"] == first.headers["location"]
    changed = await alice.patch(first.headers["location"], json={"description": "now"})
    assert changed.status_code == 200, changed.text
    later = await alice.post("/v1/mcp-servers", json=large, headers=_key("large"))
    assert later.status_code == 201 and later.json()["description"] == "now"
    assert later.headers["etag"] == changed.headers["etag"] != first.headers["etag"]
    assert [s["id"] for s in await _items(alice)] == [first.json()["id"]]


def test_the_ttl_is_a_setting() -> None:
    assert load_settings({"GATEWAY_JWT_SECRET": "x" * 32}).idempotency_ttl_seconds == 86400
    env = {"GATEWAY_JWT_SECRET": "x" * 32, "GATEWAY_IDEMPOTENCY_TTL_SECONDS": "600"}
    assert load_settings(env).idempotency_ttl_seconds == 600
    with pytest.raises(ConfigError, match="GATEWAY_IDEMPOTENCY_TTL_SECONDS"):
        load_settings({**env, "GATEWAY_IDEMPOTENCY_TTL_SECONDS": "5"}).validate()
