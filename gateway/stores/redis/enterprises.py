"""Enterprises, their members and invitations in Redis. The enterprise's own hashes are the
truth; a user's hint hashes only say which enterprises to ask (see keys.py for the order of
writes that span a user's and an enterprise's slot)."""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import Awaitable, Callable, Container, Sequence
from typing import Any, cast

import msgspec

from gateway.audit import scope as request_scope
from gateway.domain.enterprises import Enterprise, Invitation
from gateway.domain.subjects import Role
from gateway.errors import BackendUnavailable, Conflict, NotFound
from gateway.stores.base import Roster
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import ENCODER, RedisClient, as_int, text, translate_errors
from gateway.stores.redis.scripts import (
    ACCEPT,
    BEGIN_DELETE,
    COMPARE_AND_SET,
    CREATE_ENTERPRISE,
    DECLINE,
    HASH_COMPARE_AND_DELETE,
    SET_ROSTER_ENTRY,
)

_ENTERPRISE_DECODER = msgspec.json.Decoder(Enterprise)
_INVITATION_DECODER = msgspec.json.Decoder(Invitation)


def decode_enterprise(raw: bytes) -> Enterprise:
    return _ENTERPRISE_DECODER.decode(raw)


# A membership hint its enterprise does not confirm may be an add still in flight (hint
# written, enterprise side not yet); only older ones are garbage, so only those are deleted.
HINT_GRACE_MS = 60_000


def _hint_token() -> str:
    # The write time lets readers tell an in-flight add from a crashed one; the nonce lets
    # a compare-and-delete tell two writes in the same millisecond apart.
    return f"{time.time_ns() // 1_000_000}:{secrets.token_hex(4)}"


def _hint_age_ms(token: str) -> float:
    try:
        return time.time_ns() // 1_000_000 - int(token.split(":", 1)[0])
    except ValueError:
        return float("inf")  # not ours: garbage


class RedisEnterpriseStore:
    """Enterprises, members and invitations. The enterprise's own hashes are the truth; the
    user's hint hashes only say which enterprises to ask, so "my memberships" and "my
    invitations" need no scan."""

    def __init__(self, client: RedisClient) -> None:
        self._redis = client
        self._create_script = client.register_script(CREATE_ENTERPRISE)
        self._roster_script = client.register_script(SET_ROSTER_ENTRY)
        self._accept_script = client.register_script(ACCEPT)
        self._decline_script = client.register_script(DECLINE)
        self._begin_delete_script = client.register_script(BEGIN_DELETE)
        self._hash_cad_script = client.register_script(HASH_COMPARE_AND_DELETE)
        self._cas_script = client.register_script(COMPARE_AND_SET)

    @translate_errors
    async def create(self, enterprise: Enterprise, owner_id: str) -> None:
        if not await self._create(enterprise, owner_id):
            raise Conflict(f"enterprise {enterprise.id} already exists")

    async def _create(self, enterprise: Enterprise, owner_id: str) -> bool:
        # The hint first, as for any member added (see `set_member`).
        await self._redis.hset(k.user_memberships(owner_id), enterprise.id, _hint_token())
        created = await self._create_script(
            keys=[
                k.enterprise(enterprise.id),
                k.enterprise_members(enterprise.id),
                k.enterprise_members_version(enterprise.id),
            ],
            args=[ENCODER.encode(enterprise), owner_id],
        )
        return bool(created)

    @translate_errors
    async def get(self, enterprise_id: str) -> Enterprise | None:
        return (await self._get_live([enterprise_id])).get(enterprise_id)

    @translate_errors
    async def get_many(self, enterprise_ids: Sequence[str]) -> dict[str, Enterprise]:
        return await self._get_live(enterprise_ids)

    async def _get_live(self, enterprise_ids: Sequence[str]) -> dict[str, Enterprise]:
        """The records of those that exist and are not being deleted, in one round trip: a
        pipeline of per-enterprise MGETs (record and deletion mark share a slot)."""
        wanted = list(dict.fromkeys(enterprise_ids))
        if not wanted:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for enterprise_id in wanted:
                # Not pipe.mget, which a cluster pipeline refuses (see servers._list_owned).
                pipe.execute_command(
                    "MGET", k.enterprise(enterprise_id), k.enterprise_deleting(enterprise_id)
                )
            values: list[list[bytes | None]] = await pipe.execute()
        return {
            e: _ENTERPRISE_DECODER.decode(raw)
            for e, (raw, deleting) in zip(wanted, values, strict=True)
            if raw is not None and deleting is None
        }

    async def _get_raw(self, enterprise_id: str) -> Enterprise | None:
        raw = await self._redis.get(k.enterprise(enterprise_id))
        return None if raw is None else _ENTERPRISE_DECODER.decode(raw)

    @translate_errors
    async def replace(self, enterprise: Enterprise, *, expected: Enterprise) -> None:
        if enterprise.id not in await self._get_live([enterprise.id]):
            raise NotFound(f"enterprise {enterprise.id} not found")
        # Compare-and-set on the whole record: two PATCHes cannot lose each other's change.
        swapped = await self._cas_script(
            keys=[k.enterprise(enterprise.id)],
            args=[ENCODER.encode(expected), ENCODER.encode(enterprise)],
        )
        if not swapped:
            raise Conflict(f"enterprise {enterprise.id} changed meanwhile; retry")

    @translate_errors
    async def ensure_personal(self, user_id: str, candidate: Enterprise) -> Enterprise:
        # The claim decides the winner atomically. Whoever then finds the claimed enterprise
        # missing (the winner, or a loser racing a slow or crashed winner) creates it under
        # the claimed id; the create script is all-or-nothing, so exactly one lands.
        claim = k.user_personal_claim(user_id)
        if await self._redis.set(claim, candidate.id, nx=True):
            enterprise_id = candidate.id
        else:
            claimed = await self._redis.get(claim)
            if claimed is None:  # claims are never deleted; a flushed Redis is no state
                raise BackendUnavailable("redis unavailable: personal claim vanished")
            enterprise_id = text(claimed)
        stored = await self._get_raw(enterprise_id)
        if stored is None:
            repaired = msgspec.structs.replace(candidate, id=enterprise_id)
            if await self._create(repaired, user_id):
                return _ENTERPRISE_DECODER.decode(ENCODER.encode(repaired))
            stored = await self._get_raw(enterprise_id)
            if stored is None:
                raise BackendUnavailable("redis unavailable: personal enterprise vanished")
        return stored

    async def _confirmed(
        self, user_id: str, hints_key: str, truth_key: Callable[[str], str]
    ) -> dict[str, bytes]:
        """enterprise id -> the user's entry in the enterprise's own hash, for every hint the
        enterprise confirms; hints it does not confirm, older than the grace, are dropped."""
        raw_hints = await self._redis.hgetall(hints_key)
        hints = {text(ent): text(token) for ent, token in raw_hints.items()}
        if not hints:
            return {}
        enterprise_ids = sorted(hints)
        async with self._redis.pipeline(transaction=False) as pipe:
            for enterprise_id in enterprise_ids:
                pipe.hget(truth_key(enterprise_id), user_id)
            entries: list[bytes | None] = await pipe.execute()
        result = {e: v for e, v in zip(enterprise_ids, entries, strict=True) if v is not None}
        await self.drop_stale_hints(hints_key, hints, result)
        return result

    async def drop_stale_hints(
        self, hints_key: str, hints: dict[str, str], confirmed: Container[str]
    ) -> None:
        """Hints their enterprise does not confirm, older than the grace: a removal or an add
        that crashed half-way. Dropped with a compare-and-delete (a newer hint stays)."""
        garbage: list[str] = []
        for enterprise_id, token in hints.items():
            if enterprise_id not in confirmed and _hint_age_ms(token) > HINT_GRACE_MS:
                garbage += [enterprise_id, token]
        if garbage:
            await self._hash_cad_script(keys=[hints_key], args=garbage)

    @translate_errors
    async def memberships_of(self, user_id: str) -> dict[str, Role]:
        found = await self._confirmed(user_id, k.user_memberships(user_id), k.enterprise_members)
        return {ent: cast(Role, text(role)) for ent, role in found.items()}

    @translate_errors
    async def memberships_with_records(self, user_id: str) -> dict[str, tuple[Role, Enterprise]]:
        """`memberships_of` and `get_many` of those in two round trips instead of three: the
        hints, then one pipeline of each enterprise's member entry, record and deletion
        mark (all in the enterprise's slot). Asked on every request, so within a request it
        also reads ahead what the merged-view cache will ask next (the request scope's
        read-ahead: gateway/audit/scope.py)."""
        hints_key = k.user_memberships(user_id)
        ahead = request_scope.reading_ahead()
        if ahead:
            # The same round trip, same slot: the user's cached view, then its generation
            # (gateway/audit/scope.py).
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(hints_key)
                pipe.get(k.user_view(user_id))
                pipe.get(k.user_generation(user_id))
                raw_hints, view, generation = await pipe.execute()
            request_scope.remember(
                {k.user_view(user_id): view, k.user_generation(user_id): generation}
            )
        else:
            raw_hints = await self._redis.hgetall(hints_key)
        hints = {text(ent): text(token) for ent, token in raw_hints.items()}
        if not hints:
            return {}
        enterprise_ids = sorted(hints)
        per_enterprise = 3 if ahead else 2
        async with self._redis.pipeline(transaction=False) as pipe:
            for enterprise_id in enterprise_ids:
                pipe.hget(k.enterprise_members(enterprise_id), user_id)
                pipe.execute_command(
                    "MGET", k.enterprise(enterprise_id), k.enterprise_deleting(enterprise_id)
                )
                if ahead:
                    pipe.get(k.enterprise_generation(enterprise_id))
            replies: list[Any] = await pipe.execute()
        if ahead:
            request_scope.remember(
                {
                    k.enterprise_generation(e): replies[per_enterprise * i + 2]
                    for i, e in enumerate(enterprise_ids)
                }
            )
        confirmed: set[str] = set()
        found: dict[str, tuple[Role, Enterprise]] = {}
        for i, enterprise_id in enumerate(enterprise_ids):
            at = per_enterprise * i
            role, (raw, deleting) = replies[at], replies[at + 1]
            if role is None:
                continue
            confirmed.add(enterprise_id)
            if raw is not None and deleting is None:
                found[enterprise_id] = (cast(Role, text(role)), _ENTERPRISE_DECODER.decode(raw))
        await self.drop_stale_hints(hints_key, hints, confirmed)
        return found

    @translate_errors
    async def invitations_of(self, user_id: str) -> dict[str, Invitation]:
        found = await self._confirmed(
            user_id, k.user_invitations(user_id), k.enterprise_invitations
        )
        live = await self._get_live(list(found))
        return {ent: _INVITATION_DECODER.decode(raw) for ent, raw in found.items() if ent in live}

    @translate_errors
    async def members(self, enterprise_id: str) -> tuple[dict[str, Role], int]:
        roster = await self._roster(enterprise_id)
        return roster.members, roster.version

    @translate_errors
    async def roster(self, enterprise_id: str) -> Roster:
        return await self._roster(enterprise_id)

    async def _roster(self, enterprise_id: str) -> Roster:
        # MULTI on one slot: members, invitations and their version as one snapshot.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(k.enterprise_members(enterprise_id))
            pipe.hgetall(k.enterprise_invitations(enterprise_id))
            pipe.get(k.enterprise_members_version(enterprise_id))
            raw_members, raw_invitations, version = await pipe.execute()
        return Roster(
            members={text(u): cast(Role, text(r)) for u, r in raw_members.items()},
            invitations={
                text(u): _INVITATION_DECODER.decode(v) for u, v in raw_invitations.items()
            },
            version=as_int(version),
        )

    async def _set_entry(
        self, enterprise_id: str, hash_key: str, user_id: str, value: bytes | str, version: int
    ) -> None:
        result = await self._roster_script(
            keys=[
                hash_key,
                k.enterprise_members_version(enterprise_id),
                k.enterprise(enterprise_id),
                k.enterprise_deleting(enterprise_id),
            ],
            args=[version, user_id, value],
        )
        if result == -2:
            raise NotFound(f"enterprise {enterprise_id} not found")
        if result == -1:
            raise Conflict("the member list changed meanwhile; retry")

    async def _write_then_unhint(
        self, hints_key: str, enterprise_id: str, write: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Truth, then hint: the hint goes only if no concurrent add rewrote it meanwhile."""
        seen = await self._redis.hget(hints_key, enterprise_id)
        result = await write()
        if seen is not None:
            await self._hash_cad_script(keys=[hints_key], args=[enterprise_id, seen])
        return result

    @translate_errors
    async def set_member(
        self, enterprise_id: str, user_id: str, role: Role | None, *, expected_version: int
    ) -> None:
        members = k.enterprise_members(enterprise_id)
        if role is not None:
            # Hint, then truth: a crash in between leaves a hint reads ignore.
            await self._redis.hset(k.user_memberships(user_id), enterprise_id, _hint_token())
            await self._set_entry(enterprise_id, members, user_id, role, expected_version)
            return
        await self._write_then_unhint(
            k.user_memberships(user_id),
            enterprise_id,
            lambda: self._set_entry(enterprise_id, members, user_id, "", expected_version),
        )

    @translate_errors
    async def invite(self, invitation: Invitation, *, expected_version: int) -> None:
        ent, user = invitation.enterprise_id, invitation.user_id
        await self._redis.hset(k.user_invitations(user), ent, _hint_token())
        await self._set_entry(
            ent, k.enterprise_invitations(ent), user, ENCODER.encode(invitation), expected_version
        )

    @translate_errors
    async def revoke(self, enterprise_id: str, user_id: str, *, expected_version: int) -> None:
        invitations = k.enterprise_invitations(enterprise_id)
        await self._write_then_unhint(
            k.user_invitations(user_id),
            enterprise_id,
            lambda: self._set_entry(enterprise_id, invitations, user_id, "", expected_version),
        )

    @translate_errors
    async def accept(self, enterprise_id: str, user_id: str) -> Role:
        # The membership hint first (an add), then the swap, then the invitation hint.
        await self._redis.hset(k.user_memberships(user_id), enterprise_id, _hint_token())
        role = await self._write_then_unhint(
            k.user_invitations(user_id),
            enterprise_id,
            lambda: self._accept_script(
                keys=[
                    k.enterprise_invitations(enterprise_id),
                    k.enterprise_members(enterprise_id),
                    k.enterprise_members_version(enterprise_id),
                    k.enterprise(enterprise_id),
                    k.enterprise_deleting(enterprise_id),
                ],
                args=[user_id],
            ),
        )
        if role is None:
            raise NotFound(f"no invitation to {enterprise_id}")
        return cast(Role, text(role))

    @translate_errors
    async def decline(self, enterprise_id: str, user_id: str) -> None:
        dropped = await self._write_then_unhint(
            k.user_invitations(user_id),
            enterprise_id,
            lambda: self._decline_script(
                keys=[
                    k.enterprise_invitations(enterprise_id),
                    k.enterprise_members_version(enterprise_id),
                ],
                args=[user_id],
            ),
        )
        if not dropped:
            raise NotFound(f"no invitation to {enterprise_id}")

    @translate_errors
    async def begin_delete(self, enterprise_id: str, *, expected: Enterprise) -> None:
        # The intent first (another slot): a crash after it is finished by the finisher.
        await self._redis.zadd(k.DELETING, {enterprise_id: time.time_ns() // 1_000_000})
        marked = await self._begin_delete_script(
            keys=[
                k.enterprise(enterprise_id),
                k.enterprise_deleting(enterprise_id),
                k.enterprise_members_version(enterprise_id),
                k.enterprise_generation(enterprise_id),
            ],
            args=[ENCODER.encode(expected), time.time_ns() // 1_000_000],
        )
        if marked == 1:
            return
        await self._redis.zrem(k.DELETING, enterprise_id)
        if marked == -1:
            raise Conflict(f"enterprise {enterprise_id} changed meanwhile; retry")
        raise NotFound(f"enterprise {enterprise_id} not found")

    @translate_errors
    async def finish_delete(self, enterprise_id: str) -> None:
        # One slot, one command: record, roster, counters and the mark go together.
        await self._redis.delete(
            k.enterprise(enterprise_id),
            k.enterprise_members(enterprise_id),
            k.enterprise_invitations(enterprise_id),
            k.enterprise_members_version(enterprise_id),
            k.enterprise_generation(enterprise_id),
            k.enterprise_servers(enterprise_id),
            k.enterprise_deleting(enterprise_id),
        )
        await self._redis.zrem(k.DELETING, enterprise_id)

    @translate_errors
    async def pending_deletions(self, older_than_seconds: float) -> builtins.list[str]:
        cutoff = time.time_ns() // 1_000_000 - int(older_than_seconds * 1000)
        found = cast(list[bytes], await self._redis.zrangebyscore(k.DELETING, "-inf", cutoff))
        return sorted(text(e) for e in found)

    @translate_errors
    async def check(self) -> None:
        await self._redis.ping()
