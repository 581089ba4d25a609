"""ETag on reads and writes, If-Match on PATCH and DELETE (ADR-0042): a client that read a
version changes that version or gets a 412 — never a write on top of a change it did not see.
On the memory stores, one Redis and a Redis Cluster (and, in the OPA pass, on a real OPA)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from gateway.auth.claims import Claims
from gateway.config import Settings
from gateway.domain.servers import ServerCreate, ServerPatch
from gateway.domain.versions import IfMatch, etag_of
from gateway.errors import InvalidInput, PreconditionFailed
from gateway.wiring import Runtime, open_runtime
from tests.fixtures.gateway import AppFactory, Caller, caller, join

STDIO = {"name": "time", "transport": "stdio", "command": "uvx", "env": ["API_KEY"]}
HTTP = {"name": "sentry", "transport": "streamable_http", "url": "https://mcp.sentry.dev/mcp"}
STRONG = re.compile(r'^"[0-9a-f]{32}"$')


def _claims(user: str) -> Claims:
    return Claims(sub=user, email=f"{user}@example.com", exp=2_000_000_000)


def _assert_412(response: Any) -> None:
    assert response.status_code == 412, response.text
    body = response.json()
    assert body["status_code"] == 412 and "If-Match" in body["detail"]  # the one error shape


async def _personal(alice: Caller) -> tuple[str, str]:
    created = await alice.post("/v1/mcp-servers", json=STDIO)
    assert created.status_code == 201, created.text
    return created.headers["location"], created.headers["etag"]


async def test_reads_carry_a_strong_etag_that_moves_with_every_change(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    url, created_tag = await _personal(alice)
    read = await alice.get(url)
    assert STRONG.match(read.headers["etag"]), read.headers  # strong: quoted, no W/
    assert read.headers["etag"] == created_tag == (await alice.get(url)).headers["etag"]

    tags = {created_tag}
    patched = await alice.patch(url, json={"description": "clock"})
    assert patched.headers["etag"] == (await alice.get(url)).headers["etag"]
    tags.add(patched.headers["etag"])
    # A change that writes nothing the client sent (the credentials' names, updated_at) too.
    put = await alice.put(f"{url}/credentials", json={"values": {"API_KEY": "s3cret"}})
    assert put.status_code == 200, put.text
    tags.add((await alice.get(url)).headers["etag"])
    # Even a PATCH to the same values: the stored record changed (updated_at).
    tags.add((await alice.patch(url, json={"description": "clock"})).headers["etag"])
    assert len(tags) == 4


async def test_if_match_guards_patch_and_delete(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    url, first = await _personal(alice)
    second = (await alice.patch(url, json={"description": "v2"})).headers["etag"]

    _assert_412(await alice.patch(url, json={"name": "lost"}, headers={"If-Match": first}))
    _assert_412(await alice.delete(url, headers={"If-Match": first}))
    still = await alice.get(url)
    assert still.json()["name"] == "time" and still.headers["etag"] == second  # nothing written

    # One matching tag among several is enough; a weak tag never matches (strong comparison).
    weak = f"W/{second}"
    _assert_412(await alice.patch(url, json={"name": "weak"}, headers={"If-Match": weak}))
    both = f'{first}, "00000000000000000000000000000000", {second}'
    third = await alice.patch(url, json={"name": "v3"}, headers={"If-Match": both})
    assert third.status_code == 200, third.text
    assert third.json()["name"] == "v3" and third.headers["etag"] != second

    # `*`: any current representation.
    starred = await alice.patch(url, json={"name": "v4"}, headers={"If-Match": "*"})
    assert starred.status_code == 200, starred.text
    gone = await alice.delete(url, headers={"If-Match": starred.headers["etag"]})
    assert gone.status_code == 204
    assert (await alice.get(url)).status_code == 404
    # No current representation: `*` does not make a missing server a 412, it is still a 404.
    assert (
        await alice.patch(url, json={"name": "x"}, headers={"If-Match": "*"})
    ).status_code == 404


async def test_if_match_stays_optional(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    url, _ = await _personal(alice)
    assert (await alice.patch(url, json={"name": "free"})).status_code == 200  # no 428
    assert (await alice.delete(url)).status_code == 204


@pytest.mark.parametrize("header", ["abc", "W/", '"a" "b"', ",", "", '"unterminated'])
async def test_a_malformed_if_match_is_a_400_naming_it(
    client_as: Callable[..., Caller], header: str
) -> None:
    alice = client_as("alice")
    url, tag = await _personal(alice)
    response = await alice.patch(url, json={"name": "x"}, headers={"If-Match": header})
    assert response.status_code == 400, response.text
    assert [e["key"] for e in response.json()["extra"]] == ["If-Match"]
    assert (await alice.get(url)).headers["etag"] == tag


async def test_a_412_never_tells_what_a_404_or_403_hides(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    url, _ = await _personal(alice)
    stale = {"If-Match": '"00000000000000000000000000000000"'}
    for attempt in (
        bob.patch(url, json={"name": "x"}, headers=stale),
        bob.delete(url, headers=stale),
    ):
        response = await attempt
        assert response.status_code == 404, response.text

    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(alice, bob, ent, "member")
    made = await alice.post(f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json=HTTP)
    server = made.headers["location"]
    # Bob reads it (a member) but may not write it: the policy's 403, not a 412.
    denied = await bob.patch(server, json={"name": "x"}, headers=stale)
    assert denied.status_code == 403 and denied.json()["reasons"], denied.text
    assert (await bob.delete(server, headers=stale)).status_code == 403


async def test_enterprise_servers_and_enterprises_take_if_match(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    ent_url = (await alice.post("/v1/enterprises", json={"name": "Acme"})).headers["location"]
    ent = ent_url.rsplit("/", 1)[1]
    made = await alice.post(f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json=HTTP)
    assert made.status_code == 201, made.text
    server, first = made.headers["location"], made.headers["etag"]
    assert (await alice.get(server)).headers["etag"] == first
    second = (await alice.patch(server, json={"auto_enabled": True})).headers["etag"]
    _assert_412(await alice.patch(server, json={"name": "lost"}, headers={"If-Match": first}))
    _assert_412(await alice.delete(server, headers={"If-Match": first}))
    # Through the merged view the same server is the same representation: the same ETag.
    view = await alice.get(f"/v1/mcp-servers/{server.rsplit('/', 1)[1]}")
    assert view.headers["etag"] == second
    assert (await alice.delete(server, headers={"If-Match": second})).status_code == 204

    read = await alice.get(ent_url)
    tag = read.headers["etag"]
    assert STRONG.match(tag)
    renamed = await alice.patch(ent_url, json={"name": "Acme 2"}, headers={"If-Match": tag})
    assert renamed.status_code == 200, renamed.text
    assert renamed.headers["etag"] == (await alice.get(ent_url)).headers["etag"] != tag
    _assert_412(await alice.patch(ent_url, json={"name": "lost"}, headers={"If-Match": tag}))
    _assert_412(await alice.delete(ent_url, headers={"If-Match": tag}))
    assert (await alice.get(ent_url)).json()["name"] == "Acme 2"
    deleted = await alice.delete(ent_url, headers={"If-Match": renamed.headers["etag"]})
    assert deleted.status_code == 204
    assert (await alice.get(ent_url)).status_code == 404


async def test_credentials_refuse_if_match(client_as: Callable[..., Caller]) -> None:
    """Credential values are write-only and their Vault write cannot be compared-and-set with
    the record: a conditional request there has no representation to match — 412, nothing
    written (ADR-0042)."""
    alice = client_as("alice")
    url, tag = await _personal(alice)
    put = await alice.put(
        f"{url}/credentials", json={"values": {"API_KEY": "s3cret"}}, headers={"If-Match": tag}
    )
    _assert_412(put)
    assert (await alice.get(url)).json()["credentials_set"] == []
    await alice.put(f"{url}/credentials", json={"values": {"API_KEY": "s3cret"}})
    _assert_412(await alice.delete(f"{url}/credentials/API_KEY", headers={"If-Match": "*"}))
    assert (await alice.get(url)).json()["credentials_set"] == ["API_KEY"]


async def test_replicas_give_the_same_etag(
    gateway_settings: Settings, start_gateway: AppFactory, store_mode: str
) -> None:
    if store_mode == "memory":
        pytest.skip("replicas share state only through Redis")
    one, two = await start_gateway(gateway_settings), await start_gateway(gateway_settings)
    alice_one, alice_two = caller(one, "alice"), caller(two, "alice")
    url, tag = await _personal(alice_one)
    assert (await alice_two.get(url)).headers["etag"] == tag
    moved = await alice_two.patch(url, json={"name": "two"}, headers={"If-Match": tag})
    assert moved.status_code == 200, moved.text
    assert (await alice_one.get(url)).headers["etag"] == moved.headers["etag"]
    _assert_412(await alice_one.patch(url, json={"name": "one"}, headers={"If-Match": tag}))


class _WriteLandsFirst:
    """The Authorizer, with another writer's change landing right after the update is
    decided — between the version check and the compare-and-set, deterministically."""

    def __init__(self, runtime: Runtime, server_id: str) -> None:
        self._inner = runtime.services.authorizer
        self._personal = runtime.stores.personal
        self._server_id = server_id
        self.landed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def require(self, action: str, *args: Any, **kwargs: Any) -> Any:
        decision = await self._inner.require(action, *args, **kwargs)
        if action == "mcp_server.update" and not self.landed:
            current = await self._personal.get(self._server_id)
            assert current is not None
            theirs = msgspec.structs.replace(
                current, description="theirs", updated_at=datetime.now(UTC)
            )
            await self._personal.replace(theirs, expected_updated_at=current.updated_at)
            self.landed += 1
        return decision


async def test_a_version_that_moves_under_a_pinned_patch_is_412_not_a_retry(
    gateway_settings: Settings,
) -> None:
    runtime = await open_runtime(gateway_settings)
    try:
        alice = await runtime.services.authenticator.resolver.resolve(_claims("alice"))
        servers = runtime.services.servers
        server = await servers.create(alice, ServerCreate(name="t", transport="stdio", command="x"))
        tag = etag_of(server)

        racing = _WriteLandsFirst(runtime, server.id)
        servers._authorizer = racing  # type: ignore[assignment]
        with pytest.raises(PreconditionFailed):
            await servers.update(
                alice, server.id, ServerPatch(name="mine"), if_match=IfMatch.parse(tag)
            )
        assert racing.landed == 1
        stored = await servers.get(alice, server.id)
        assert stored.description == "theirs" and stored.name == "t"  # theirs kept, mine not

        # Without If-Match the same interleaving is retried on the newer server: both apply.
        racing.landed = 0
        updated = await servers.update(alice, server.id, ServerPatch(name="mine"))
        assert racing.landed == 1
        assert updated.name == "mine" and updated.description == "theirs"
    finally:
        await runtime.aclose()


async def test_pinned_patches_race_one_wins_the_rest_412(gateway_settings: Settings) -> None:
    """Twelve PATCHes holding the same ETag, on two runtimes sharing the store where there is
    one (two replicas): exactly one applies, every other is a 412 — none a 409, none applied
    on a version it did not see."""
    replicas = 1 if gateway_settings.redis_url is None else 2
    runtimes = [await open_runtime(gateway_settings) for _ in range(replicas)]
    try:
        subjects = [
            await r.services.authenticator.resolver.resolve(_claims("alice")) for r in runtimes
        ]
        first = runtimes[0].services.servers
        server = await first.create(
            subjects[0], ServerCreate(name="t", transport="stdio", command="x")
        )
        condition = IfMatch.parse(etag_of(server))

        async def attempt(i: int) -> str:
            r = i % replicas
            try:
                await runtimes[r].services.servers.update(
                    subjects[r], server.id, ServerPatch(description=f"p{i}"), if_match=condition
                )
            except PreconditionFailed:
                return "412"
            return f"p{i}"

        results = await asyncio.gather(*(attempt(i) for i in range(12)))
        winners = [r for r in results if r != "412"]
        assert len(winners) == 1 and results.count("412") == 11, results
        assert (await first.get(subjects[0], server.id)).description == winners[0]
    finally:
        for runtime in runtimes:
            await runtime.aclose()


def test_if_match_parsing() -> None:
    assert IfMatch.parse(None) is None
    assert IfMatch.parse(" * ") == IfMatch(any=True)
    parsed = IfMatch.parse('"a", W/"b" ,, "c,d"')
    assert parsed is not None and parsed.tags == frozenset({'"a"', '"c,d"'})
    assert parsed.matches('"a"') and parsed.matches('"c,d"') and not parsed.matches('"b"')
    with pytest.raises(InvalidInput):
        IfMatch.parse(", ".join(f'"{i}"' for i in range(33)))


async def test_the_merged_view_answers_304_while_it_has_not_changed(
    client_as: Callable[..., Caller],
) -> None:
    """`GET /v1/mcp-servers` carries a strong ETag of its bytes; If-None-Match holding it (or
    its weak form, or `*`) is a 304 with no body; any change to the view is a 200 with a new
    tag; a page of another size is another representation with its own tag."""
    alice = client_as("alice")
    await _personal(alice)
    first = await alice.get("/v1/mcp-servers")
    tag = first.headers["etag"]
    assert first.status_code == 200 and STRONG.match(tag), first.headers
    assert first.headers["cache-control"] == "no-store"  # a client keeps the tag itself
    for held in (tag, f'"nope", {tag}', f"W/{tag}", "*"):
        again = await alice.get("/v1/mcp-servers", headers={"If-None-Match": held})
        assert again.status_code == 304, (held, again.status_code)
        assert again.content == b"" and again.headers["etag"] == tag
    other = await alice.get("/v1/mcp-servers", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200 and other.content == first.content

    await _personal(alice)
    changed = await alice.get("/v1/mcp-servers", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert len(changed.json()["items"]) == 2
    held = changed.headers["etag"]
    page = await alice.get("/v1/mcp-servers?limit=1", headers={"If-None-Match": held})
    assert page.status_code == 200 and page.headers["etag"] != held
    # Another user's view is not alice's: her tag is nothing to bob.
    bob = await client_as("bob").get("/v1/mcp-servers", headers={"If-None-Match": tag})
    assert bob.status_code == 200 and bob.json()["items"] == []


async def test_a_malformed_if_none_match_is_a_400_naming_it(
    client_as: Callable[..., Caller],
) -> None:
    answer = await client_as("alice").get("/v1/mcp-servers", headers={"If-None-Match": "abc"})
    assert answer.status_code == 400, answer.text
    assert "If-None-Match" in answer.text
