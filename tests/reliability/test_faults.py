"""Faults survived: a backend killed, stopped or erroring while real gateway processes serve
concurrent users. Affected requests are a 503 with Retry-After (or a deny), never a 500,
never an allow the policy did not give, never another user's or a stale view; and the
gateway recovers by itself when the backend is back. Each test is bounded to a few seconds
of load. The fault matrix (docs/reliability.md) says which test shows what."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import REPO_POLICY_DIR
from tests.fixtures.live_gateway import live_gateway
from tests.fixtures.opa_server import OPAServer
from tests.reliability.conftest import DoomedOpenBao, DoomedRedis
from tests.reliability.load import User, organization, server, until_ready, users

pytestmark = pytest.mark.reliability


class Seen:
    """Every answer the load got, for the assertions that hold for all of them."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, httpx.Response | None]] = []

    def add(self, what: str, response: httpx.Response | None) -> None:
        self.answers.append((what, response))

    def statuses(self) -> Counter[int]:
        return Counter(r.status_code for _, r in self.answers if r is not None)

    def only_clean_failures(self, backend: str, allowed: set[int]) -> None:
        for what, response in self.answers:
            assert response is not None, f"{what}: no answer (connection dropped)"
            assert response.status_code in allowed | {503}, f"{what}: {response.text}"
            if response.status_code == 503:
                assert response.headers.get("retry-after"), f"{what}: 503 without Retry-After"
                assert backend in response.json()["detail"], f"{what}: {response.text}"


# --- Redis: SIGKILL under load, restart on the same port and data ---------------------------


class ViewChecker:
    """What each user may see and must see: their own personal servers (by the names they
    tried, since a refused create may still have landed) and the auto-enabled server of the
    enterprise when they are a member. A view missing a create acknowledged before the read
    was sent is stale."""

    def __init__(self, members: set[str], auto_id: str, hidden_id: str) -> None:
        self.members = members
        self.auto_id = auto_id
        self.hidden_id = hidden_id
        self.tried: dict[str, set[str]] = {}
        self.acked: dict[str, dict[str, str]] = {}  # user -> id -> name

    def check(self, user: str, items: list[dict[str, Any]], acked_before: set[str]) -> None:
        ids = {item["id"] for item in items}
        assert len(ids) == len(items), f"{user}: duplicates in the view"
        for item in items:
            if item["source"] == "personal":
                assert item["user_id"] == user, f"{user} saw {item['user_id']}'s server"
                assert item["name"] in self.tried.get(user, set()), item
            else:
                assert item["source"] == "enterprise", item
                assert item["id"] == self.auto_id and user in self.members, (user, item)
        assert self.hidden_id not in ids
        assert acked_before <= ids, f"{user}: stale view, lacks {acked_before - ids}"
        assert (self.auto_id in ids) == (user in self.members), f"{user}: {ids}"


async def _user_load(
    user: User, checker: ViewChecker, seen: Seen, until: float, pause: float = 0.0
) -> None:
    n = 0
    checker.tried[user.id] = set()
    checker.acked[user.id] = {}
    while time.monotonic() < until:
        n += 1
        name = f"{user.id}-{n}"
        checker.tried[user.id].add(name)
        try:
            created = await user.request("POST", "/v1/mcp-servers", json=server(name))
        except httpx.HTTPError as exc:
            seen.add(f"POST {name} ({exc!r})", None)
            continue
        seen.add(f"POST {name}", created)
        if created.status_code == 201:
            checker.acked[user.id][created.json()["id"]] = name
        acked_before = set(checker.acked[user.id])
        try:
            listed = await user.request("GET", "/v1/mcp-servers", params={"limit": 500})
        except httpx.HTTPError as exc:
            seen.add(f"GET by {user.id} ({exc!r})", None)
            continue
        seen.add(f"GET by {user.id}", listed)
        if listed.status_code == 200:
            checker.check(user.id, listed.json()["items"], acked_before)
        await asyncio.sleep(pause)


async def _redis_outage(base_url: str, redis: DoomedRedis) -> None:
    owner, alice, bob, carol, dave, erin = await users(
        base_url, "owner", "alice", "bob", "carol", "dave", "erin"
    )
    everyone = [owner, alice, bob, carol, dave, erin]
    try:
        ent = await organization(owner, [alice, bob])
        add = f"/v1/enterprise/mcp-servers?enterprise_id={ent}"
        auto = await owner.must(201, "POST", add, json=server("mandatory", auto_enabled=True))
        hidden = await owner.must(201, "POST", add, json=server("optional"))
        checker = ViewChecker({"owner", "alice", "bob"}, auto["id"], hidden["id"])
        seen = Seen()
        start = time.monotonic()

        async def outage() -> None:
            await asyncio.sleep(1.0)
            redis.kill()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(redis.restart)

        await asyncio.gather(
            outage(), *(_user_load(u, checker, seen, until=start + 4.0) for u in everyone)
        )
        seen.only_clean_failures("redis", allowed={200, 201})
        statuses = seen.statuses()
        assert statuses[503] > 0, f"the outage was never seen: {statuses}"
        # Recovered by itself, during the load: answers after the restart succeeded.
        last = [r.status_code for _, r in seen.answers[-len(everyone) * 2 :] if r is not None]
        assert 200 in last or 201 in last, f"no recovery: {statuses}"

        await until_ready(base_url)
        for user in everyone:  # new writes work, and every acknowledged one survived
            made = await user.must(201, "POST", "/v1/mcp-servers", json=server("after"))
            checker.tried[user.id].add("after")
            checker.acked[user.id][made["id"]] = "after"
            checker.check(user.id, await user.view(), set(checker.acked[user.id]))
    finally:
        for user in everyone:
            await user.aclose()


def test_redis_killed_under_load_is_a_503_and_recovers_by_itself(
    tmp_path: Path, doomed_redis: type[DoomedRedis]
) -> None:
    """SIGKILL during six users' creates and reads; Redis comes back on the same port with
    its append-only file (fsync always), so every acknowledged write must still be there."""
    redis = doomed_redis(persistent=True)
    with live_gateway(tmp_path, GATEWAY_REDIS_URL=redis.url) as gateway:
        asyncio.run(_redis_outage(gateway.base_url, redis))
        assert f":{redis.port}" in gateway.output()  # the log says where; bodies did not


async def _redis_comes_back_empty(base_url: str, redis: DoomedRedis) -> None:
    owner, alice, dave = await users(base_url, "owner", "alice", "dave")
    try:
        ent = await organization(owner, [alice])
        add = f"/v1/enterprise/mcp-servers?enterprise_id={ent}"
        await owner.must(201, "POST", add, json=server("mandatory", auto_enabled=True))
        for user in (owner, alice, dave):
            await user.must(201, "POST", "/v1/mcp-servers", json=server("before"))
            assert len(await user.view()) >= 1  # cached now
        redis.kill()
        refused = await alice.request("GET", "/v1/mcp-servers")
        assert refused.status_code == 503 and refused.headers["retry-after"], refused.text
        await asyncio.to_thread(redis.restart)
        await until_ready(base_url)
        # Nothing survived, so nothing may be shown: no view cached before, in Redis or in
        # a process, comes back; the enterprise and its membership are gone with it.
        for user in (owner, alice, dave):
            assert await user.view() == [], user.id
            made = await user.must(201, "POST", "/v1/mcp-servers", json=server("after"))
            assert [s["id"] for s in await user.view()] == [made["id"]]
        names = {e["name"] for e in (await alice.must(200, "GET", "/v1/enterprises"))["items"]}
        assert "acme" not in names
    finally:
        for user in (owner, alice, dave):
            await user.aclose()


def test_redis_restarted_empty_serves_the_empty_state_not_the_old_one(
    tmp_path: Path, doomed_redis: type[DoomedRedis]
) -> None:
    """Without persistence, "recovers" means: ready again, new writes work, and every view
    is what the (empty) store holds — never a view cached before the loss."""
    redis = doomed_redis()
    with live_gateway(tmp_path, GATEWAY_REDIS_URL=redis.url) as gateway:
        asyncio.run(_redis_comes_back_empty(gateway.base_url, redis))


# --- OpenBao: SIGSTOP, SIGKILL, restart ------------------------------------------------------


async def _vault_outage(base_url: str, vault: DoomedOpenBao) -> None:
    alice, bob = await users(base_url, "alice", "bob")
    try:
        made = await alice.must(201, "POST", "/v1/mcp-servers", json=server("s", env=["TZ"]))
        base = f"/v1/mcp-servers/{made['id']}"
        await alice.must(200, "PUT", f"{base}/credentials", json={"values": {"TZ": "UTC"}})

        kept: list[str] = []

        async def others(seen: Seen, rounds: int) -> None:
            """The rest of the API, meanwhile: reads, creates, patches. Not deletes: deleting
            a server deletes its secrets too (any a failed write left behind included), so
            it is a 503 while Vault is away, and the server stays whole."""
            for n in range(rounds):
                made = await bob.request("POST", "/v1/mcp-servers", json=server(f"b{n}"))
                seen.add("POST", made)
                if made.status_code == 201:
                    url = f"/v1/mcp-servers/{made.json()['id']}"
                    seen.add("PATCH", await bob.request("PATCH", url, json={"enabled": False}))
                    seen.add("GET", await bob.request("GET", url))
                    seen.add("GET", await bob.request("GET", "/v1/mcp-servers"))
                    kept.append(url)
            refused = await bob.request("DELETE", kept[-1])
            assert refused.status_code == 503 and "vault" in refused.json()["detail"]
            await bob.must(200, "GET", kept[-1])

        async def credentials(seen: Seen) -> None:
            put = {"values": {"TZ": "Europe/Paris"}}
            calls = [
                alice.request("PUT", f"{base}/credentials", json=put),
                alice.request("GET", f"{base}/launch"),
            ]
            answers = await asyncio.gather(*calls)
            # The delete after them: it forgets the name in the record (Redis) before it
            # reaches Vault, so a launch that ran after that part needed no Vault read (a 200
            # with TZ missing: seen once on a loaded machine).
            answers.append(await alice.request("DELETE", f"{base}/credentials/TZ"))
            for call, answer in zip(["PUT", "launch", "DELETE"], answers, strict=True):
                seen.add(call, answer)

        # Stopped (SIGSTOP): calls hang until the Vault client's timeout.
        vault.pause()
        creds, rest = Seen(), Seen()
        await asyncio.gather(credentials(creds), others(rest, rounds=5))
        assert creds.statuses() == {503: 3}, creds.answers
        creds.only_clean_failures("vault", allowed=set())
        assert rest.statuses().keys() <= {200, 201, 204}, rest.answers
        vault.resume()
        # A 503 from a timeout is ambiguous (Vault may act on the call once it runs again),
        # but never half-written: whatever the record lists, Vault holds and launch gives.
        listed = (await alice.must(200, "GET", base))["credentials_set"]
        launch = await alice.must(200, "GET", f"{base}/launch")
        assert set(launch["env"]) == set(listed), launch
        assert launch["env"] in ({}, {"TZ": "UTC"}, {"TZ": "Europe/Paris"}), launch

        # Killed: refused at once; the rest goes on.
        await alice.must(200, "PUT", f"{base}/credentials", json={"values": {"TZ": "UTC"}})
        vault.kill()
        creds, rest = Seen(), Seen()
        await asyncio.gather(credentials(creds), others(rest, rounds=3))
        assert creds.statuses() == {503: 3}, creds.answers
        creds.only_clean_failures("vault", allowed=set())
        assert rest.statuses().keys() <= {200, 201, 204}, rest.answers

        # Back on the same address and token (dev mode: it lost every value): credential
        # calls work again without a gateway restart.
        await asyncio.to_thread(vault.restart)
        put = {"values": {"TZ": "Asia/Tokyo"}}
        await alice.must(200, "PUT", f"{base}/credentials", json=put)
        launch = await alice.must(200, "GET", f"{base}/launch")
        assert launch["env"] == {"TZ": "Asia/Tokyo"}
        for url in kept:  # and the deletes refused meanwhile go through
            await bob.must(204, "DELETE", url)
    finally:
        await alice.aclose()
        await bob.aclose()


def test_vault_stopped_or_killed_fails_only_credentials_and_recovers(
    tmp_path: Path, doomed_openbao: DoomedOpenBao, doomed_redis: type[DoomedRedis]
) -> None:
    with live_gateway(
        tmp_path,
        GATEWAY_REDIS_URL=doomed_redis().url,
        GATEWAY_VAULT_ADDR=doomed_openbao.addr,
        GATEWAY_VAULT_TOKEN=doomed_openbao.token,
    ) as gateway:
        asyncio.run(_vault_outage(gateway.base_url, doomed_openbao))


# --- The policy engine: OPA paused, killed and restarted; an embedded evaluation error -------
# What tests/api/test_opa_engine.py already shows, one request at a time in-process: OPA
# stopped -> 503 and not ready; paused -> 503 after the timeout; an error answer -> 503; a
# wrong or undefined answer -> deny. Here: a real gateway process under concurrent load, and
# recovery after OPA comes back on the same address.


async def _engine_outage(
    base_url: str, opa: OPAServer, restart: Callable[[], OPAServer], users_: list[User]
) -> None:
    baseline = {u.id: await u.view() for u in users_}

    async def load(user: User, seen: Seen, until: float) -> None:
        n = 0
        while time.monotonic() < until:
            n += 1
            made = await user.request("POST", "/v1/mcp-servers", json=server(f"down-{n}"))
            seen.add(f"POST by {user.id}", made)
            listed = await user.request("GET", "/v1/mcp-servers", params={"limit": 500})
            seen.add(f"GET by {user.id}", listed)
            if listed.status_code == 200:
                # Only the answer the policy gave before (a remembered decision for the very
                # same input and revision), never one it did not give.
                assert listed.json()["items"] == baseline[user.id], user.id

    for fault in ("paused", "killed"):
        opa.pause() if fault == "paused" else opa.stop()
        seen = Seen()
        until = time.monotonic() + 1.5
        await asyncio.gather(*(load(u, seen, until) for u in users_))
        seen.only_clean_failures("policy engine", allowed={200, 403, 404})
        assert all(
            r.status_code != 200 for w, r in seen.answers if r is not None and "POST" in w
        ), fault
        assert seen.statuses()[503] > 0, (fault, seen.statuses())
        if fault == "paused":
            opa.resume()
        else:
            opa = await asyncio.to_thread(restart)
            await until_ready(base_url)
        for user in users_:  # back: writes work, and nothing refused meanwhile was written
            await user.must(201, "POST", "/v1/mcp-servers", json=server(f"after-{fault}"))
            names = {s["name"] for s in await user.view()}
            assert not {n for n in names if n.startswith("down-")}, names


@pytest.mark.opa
def test_opa_paused_or_killed_under_load_never_allows_and_recovers(tmp_path: Path) -> None:
    opa = OPAServer(REPO_POLICY_DIR, tmp_path)
    try:
        with live_gateway(
            tmp_path, GATEWAY_OPA_URL=opa.url, GATEWAY_OPA_TIMEOUT_SECONDS="0.3"
        ) as gateway:

            def restart() -> OPAServer:
                nonlocal opa
                opa = OPAServer(REPO_POLICY_DIR, tmp_path, port=opa.port)
                return opa

            async def scenario() -> None:
                everyone = await users(gateway.base_url, "alice", "bob", "carol")
                try:
                    for user in everyone:
                        await user.must(201, "POST", "/v1/mcp-servers", json=server("mine"))
                    await _engine_outage(gateway.base_url, opa, restart, everyone)
                finally:
                    for user in everyone:
                        await user.aclose()

            asyncio.run(scenario())
    finally:
        opa.stop()


# Valid Rego that passes every reload check (it compiles, every entrypoint answers the probe)
# but fails at evaluation for one input: two values for one complete rule.
_FAILS_FOR_BOOM = """package gateway.authz

_boom := 1 if input.proposed.name == "boom"

_boom := 2 if input.proposed.name == "boom"

deny contains {"code": "boom", "message": "boom"} if _boom
"""


async def _embedded_error(base_url: str, policies: Path) -> None:
    alice, bob = await users(base_url, "alice", "bob")
    try:
        await alice.must(201, "POST", "/v1/mcp-servers", json=server("boom"))  # before
        before = (await alice.must(200, "GET", "/readyz"))["policy_revision"]
        (policies / "gateway" / "authz" / "boom.rego").write_text(_FAILS_FOR_BOOM)
        deadline = time.monotonic() + 10
        while (await alice.must(200, "GET", "/readyz"))["policy_revision"] == before:
            assert time.monotonic() < deadline, "the new revision was never served"
            await asyncio.sleep(0.1)
        seen = Seen()
        calls = [(u, name) for u in (alice, bob) for name in ("boom", "fine") * 4]
        answers = await asyncio.gather(
            *(u.request("POST", "/v1/mcp-servers", json=server(n)) for u, n in calls)
        )
        for (user, name), answer in zip(calls, answers, strict=True):
            seen.add(f"POST {name} by {user.id}", answer)
            if name == "fine":
                assert answer.status_code == 201, answer.text
            else:
                assert answer.status_code in (403, 503), answer.text
        seen.only_clean_failures("policy engine", allowed={201, 403})
        for user in (alice, bob):  # the other actions keep working; nothing "boom" was added
            names = [s["name"] for s in await user.view()]
            assert names.count("boom") == (1 if user is alice else 0), names
            assert names.count("fine") == 4, names
    finally:
        await alice.aclose()
        await bob.aclose()


def test_a_reloaded_policy_that_errors_at_evaluation_never_allows(tmp_path: Path) -> None:
    """The embedded engine: a hot-reloaded module that fails only for some inputs passes the
    reload checks; those requests are a 503 (or a deny), every other one is served."""
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    with live_gateway(tmp_path, GATEWAY_POLICY_DIR=str(policies)) as gateway:
        asyncio.run(_embedded_error(gateway.base_url, policies))
