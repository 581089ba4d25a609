"""Redis stores: the shared backend of stateless gateway replicas (layout: `redis_keys`).

Every multi-key write is one Lua script on one hash slot; writes that span slots are ordered
so that a crash between them is ignored or repaired by the next read (see `redis_keys`).
Any Redis failure surfaces as `BackendUnavailable` (503), never as a guess.
"""

from __future__ import annotations

import builtins
import functools
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, ParamSpec, TypeVar, cast

import msgspec
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from gateway.domain.enterprises import Enterprise, Invitation
from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig
from gateway.domain.subjects import Role
from gateway.errors import BackendUnavailable, Conflict, NotFound
from gateway.stores import redis_keys as k
from gateway.stores.base import EnterpriseMCPServerFilter, MCPServerFilter, Roster

__all__ = [
    "RedisEnterpriseMCPServerStore",
    "RedisEnterpriseStore",
    "RedisMCPServerStore",
    "redis_client_from_url",
]

_ENCODER = msgspec.json.Encoder()
_SERVER_DECODER = msgspec.json.Decoder(MCPServerConfig)
_ENTERPRISE_SERVER_DECODER = msgspec.json.Decoder(EnterpriseMCPServer)
_ENTERPRISE_DECODER = msgspec.json.Decoder(Enterprise)
_INVITATION_DECODER = msgspec.json.Decoder(Invitation)

# A membership hint its enterprise does not confirm may be an add still in flight (hint
# written, enterprise side not yet); only older ones are garbage, so only those are deleted.
HINT_GRACE_MS = 60_000

# KEYS: record, index, generation [, owner record, owner's deletion mark]. ARGV: value, server
# id. Returns the new generation, 0 when the id exists, -2 when the owner is gone or being
# deleted (an enterprise server cannot outlive its enterprise's deletion).
_CREATE_SERVER = """
if #KEYS > 3 and (redis.call('EXISTS', KEYS[4]) == 0 or redis.call('EXISTS', KEYS[5]) == 1) then
  return -2
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
return redis.call('INCR', KEYS[3])
"""

# KEYS: record, generation. ARGV: value, expected `updated_at` ('' = any). Returns the new
# generation, 0 when missing, -1 when the stored `updated_at` is not the expected one.
_REPLACE_SERVER = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if ARGV[2] ~= '' and cjson.decode(current)['updated_at'] ~= ARGV[2] then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""

# KEYS: record, index, generation. ARGV: server id, expected `updated_at` ('' = any).
# Returns the deleted value, nil when missing, -1 when changed since it was read.
_DELETE_SERVER = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
if ARGV[2] ~= '' and cjson.decode(value)['updated_at'] ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return value
"""


def _timestamp(value: datetime) -> str:
    # Exactly as the record stores it, for the compares in _REPLACE/_DELETE_SERVER.
    return _ENCODER.encode(value).decode().strip('"')


# KEYS: key. ARGV: expected, new ('' deletes). Compare-and-set of a string key.
_COMPARE_AND_SET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""

# KEYS: hash. ARGV: field1, expected1, field2, expected2, ... Deletes the fields whose value
# is still the one the caller saw (a concurrent writer's newer value survives).
_HASH_COMPARE_AND_DELETE = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n
"""

# KEYS: enterprise, members, version. ARGV: value, owner id. All or nothing, so that a
# repair racing the original creator cannot add a second owner or bump the version twice.
_CREATE_ENTERPRISE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], 'owner')
return redis.call('INCR', KEYS[3])
"""

# KEYS: members or invitations hash, version, record, deleting mark. ARGV: expected
# version, user id, value ('' removes). Returns the new version, -1 when the roster changed
# since the caller read it, -2 when the enterprise is gone or being deleted.
_SET_ROSTER_ENTRY = """
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[4]) == 1 then return -2 end
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[1]) then return -1 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return redis.call('INCR', KEYS[2])
"""

# KEYS: invitations, members, version, record, deleting mark. ARGV: user id. Turns the
# invitation into a membership with its role; false when there is none (or no enterprise).
_ACCEPT = """
if redis.call('EXISTS', KEYS[4]) == 0 or redis.call('EXISTS', KEYS[5]) == 1 then return false end
local invitation = redis.call('HGET', KEYS[1], ARGV[1])
if not invitation then return false end
local role = cjson.decode(invitation)['role']
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], role)
redis.call('INCR', KEYS[3])
return role
"""

# KEYS: invitations, version. ARGV: user id. 1 when an invitation was dropped, else 0.
_DECLINE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
return 1
"""

# KEYS: record, deleting mark, version, generation. ARGV: expected record, now (ms).
# 1 when marked, 0 when missing or already being deleted, -1 when the record changed.
_BEGIN_DELETE = """
local current = redis.call('GET', KEYS[1])
if not current or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[1] ~= '' and current ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('INCR', KEYS[3])
redis.call('INCR', KEYS[4])
return 1
"""

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", MCPServerConfig, EnterpriseMCPServer)


def redis_client_from_url(url: str) -> aredis.Redis:
    """One client (and connection pool) per process, shared by every Redis store.

    Short timeouts and few retries: a down Redis must become a prompt 503, not a hung request.
    """
    return aredis.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=15,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), retries=2),
    )


def _translate_errors(
    fn: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Map Redis and socket failures to BackendUnavailable; Conflict/NotFound pass through."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(f"redis unavailable: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise BackendUnavailable(f"redis returned an undecodable value: {exc}") from exc

    return wrapper


def _text(value: bytes | str) -> str:
    # The client is built with decode_responses=False, but redis-py types replies as either.
    return value.decode() if isinstance(value, bytes) else value


def _as_int(value: bytes | str | None) -> int:
    return int(value) if value is not None else 0


class _RedisServerRecords(Generic[S]):
    """What both server stores share; subclasses name the owner and its keys."""

    _decoder: msgspec.json.Decoder[S]
    _owners_key: str

    def __init__(self, client: aredis.Redis) -> None:
        self._redis = client
        self._create_script = client.register_script(_CREATE_SERVER)
        self._replace_script = client.register_script(_REPLACE_SERVER)
        self._delete_script = client.register_script(_DELETE_SERVER)
        self._cas_script = client.register_script(_COMPARE_AND_SET)

    def _owner(self, server: S) -> str:
        raise NotImplementedError

    def _record_key(self, owner: str, server_id: str) -> str:
        raise NotImplementedError

    def _index_key(self, owner: str) -> str:
        raise NotImplementedError

    def _generation_key(self, owner: str) -> str:
        raise NotImplementedError

    def _locator_key(self, server_id: str) -> str:
        raise NotImplementedError

    def _owner_guard_keys(self, owner: str) -> list[str]:
        """Keys in the owner's slot that must exist / must not (see _CREATE_SERVER)."""
        return []

    @_translate_errors
    async def create(self, server: S) -> None:
        owner: str = self._owner(server)
        # Locator first (another slot): a crash after it leaves a locator without a record,
        # which reads as "not found"; a record is therefore always findable by id.
        await self._claim_locator(server.id, owner)
        created = await self._create_script(
            keys=[
                self._record_key(owner, server.id),
                self._index_key(owner),
                self._generation_key(owner),
                *self._owner_guard_keys(owner),
            ],
            args=[_ENCODER.encode(server), server.id],
        )
        if created == -2:
            raise NotFound(f"owner {owner} of server {server.id} not found")
        if not created:
            raise Conflict(f"server {server.id} already exists")
        await self._redis.sadd(self._owners_key, owner)

    async def _claim_locator(self, server_id: str, owner: str) -> None:
        locator = self._locator_key(server_id)
        for _ in range(3):
            if await self._redis.set(locator, owner, nx=True):
                return
            current = await self._redis.get(locator)
            if current is None:
                continue  # deleted meanwhile: claim it again
            if _text(current) == owner:
                return  # ours (a dangling one, or the record exists: the script says so)
            if await self._redis.exists(self._record_key(_text(current), server_id)):
                break
            # A dangling locator of another owner (its create crashed): take it over.
            if await self._cas_script(keys=[locator], args=[current, owner]):
                return
        raise Conflict(f"server {server_id} already exists")

    @_translate_errors
    async def get(self, server_id: str) -> S | None:
        # Two round trips: the locator and the record live in different slots.
        owner = await self._redis.get(self._locator_key(server_id))
        if owner is None:
            return None
        raw = await self._redis.get(self._record_key(_text(owner), server_id))
        return None if raw is None else self._decoder.decode(raw)

    @_translate_errors
    async def replace(self, server: S, *, expected_updated_at: datetime | None = None) -> None:
        owner = self._owner(server)
        expected = "" if expected_updated_at is None else _timestamp(expected_updated_at)
        replaced = await self._replace_script(
            keys=[self._record_key(owner, server.id), self._generation_key(owner)],
            args=[_ENCODER.encode(server), expected],
        )
        if replaced == -1:
            raise Conflict(f"server {server.id} changed meanwhile; retry")
        if not replaced:
            raise NotFound(f"server {server.id} not found")

    @_translate_errors
    async def delete(
        self, server_id: str, *, expected_updated_at: datetime | None = None
    ) -> S | None:
        locator = self._locator_key(server_id)
        owner = await self._redis.get(locator)
        if owner is None:
            return None
        expected = "" if expected_updated_at is None else _timestamp(expected_updated_at)
        raw = await self._delete_script(
            keys=[
                self._record_key(_text(owner), server_id),
                self._index_key(_text(owner)),
                self._generation_key(_text(owner)),
            ],
            args=[server_id, expected],
        )
        if raw == -1:
            raise Conflict(f"server {server_id} changed meanwhile; retry")
        # Locator last, and only if it still names this owner; also clears a dangling one.
        await self._cas_script(keys=[locator], args=[owner, b""])
        return None if raw is None else self._decoder.decode(raw)

    @_translate_errors
    async def check(self) -> None:
        await self._redis.ping()

    async def _all_owners(self) -> builtins.list[str]:
        return sorted(_text(o) for o in await self._redis.smembers(self._owners_key))

    async def _list_owned(self, owners: Sequence[str]) -> builtins.list[S]:
        """One pipeline of SMEMBERS, then one of MGETs (each MGET stays in its owner's slot)."""
        if not owners:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner in owners:
                pipe.smembers(self._index_key(owner))
            id_sets: list[set[bytes]] = await pipe.execute()
        wanted = [(o, ids) for o, ids in zip(owners, id_sets, strict=True) if ids]
        if not wanted:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner, ids in wanted:
                pipe.mget([self._record_key(owner, _text(i)) for i in ids])
            batches: list[list[bytes | None]] = await pipe.execute()
        # A record deleted between the two reads is simply skipped.
        found = [self._decoder.decode(raw) for batch in batches for raw in batch if raw]
        found.sort(key=lambda s: s.id)
        return found

    async def _generations(self, owners: Iterable[str]) -> dict[str, int]:
        owners = list(dict.fromkeys(owners))
        if not owners:
            return {}
        # One GET per key rather than one MGET: the keys live in different slots.
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner in owners:
                pipe.get(self._generation_key(owner))
            values: list[bytes | None] = await pipe.execute()
        return {o: _as_int(v) for o, v in zip(owners, values, strict=True)}


class RedisMCPServerStore(_RedisServerRecords[MCPServerConfig]):
    """Personal servers, filed under their user's hash tag."""

    _decoder = _SERVER_DECODER
    _owners_key = k.USERS

    def _owner(self, server: MCPServerConfig) -> str:
        return server.user_id

    def _record_key(self, owner: str, server_id: str) -> str:
        return k.user_server(owner, server_id)

    def _index_key(self, owner: str) -> str:
        return k.user_servers(owner)

    def _generation_key(self, owner: str) -> str:
        return k.user_generation(owner)

    def _locator_key(self, server_id: str) -> str:
        return k.server_locator(server_id)

    @_translate_errors
    async def list(self, flt: MCPServerFilter) -> builtins.list[MCPServerConfig]:
        owners = await self._all_owners() if flt.user_id is None else [flt.user_id]
        return await self._list_owned(owners)

    @_translate_errors
    async def generation(self, user_id: str) -> int:
        return _as_int(await self._redis.get(k.user_generation(user_id)))


class RedisEnterpriseMCPServerStore(_RedisServerRecords[EnterpriseMCPServer]):
    """Enterprise servers, filed under their enterprise's hash tag."""

    _decoder = _ENTERPRISE_SERVER_DECODER
    _owners_key = k.ENTERPRISES

    def _owner(self, server: EnterpriseMCPServer) -> str:
        return server.enterprise_id

    def _record_key(self, owner: str, server_id: str) -> str:
        return k.enterprise_server(owner, server_id)

    def _index_key(self, owner: str) -> str:
        return k.enterprise_servers(owner)

    def _generation_key(self, owner: str) -> str:
        return k.enterprise_generation(owner)

    def _locator_key(self, server_id: str) -> str:
        return k.enterprise_server_locator(server_id)

    def _owner_guard_keys(self, owner: str) -> list[str]:
        return [k.enterprise(owner), k.enterprise_deleting(owner)]

    @_translate_errors
    async def list(self, flt: EnterpriseMCPServerFilter) -> builtins.list[EnterpriseMCPServer]:
        if flt.enterprise_ids is None:
            owners = await self._all_owners()
        else:
            owners = list(dict.fromkeys(flt.enterprise_ids))
        found = await self._list_owned(owners)
        if flt.auto_enabled_only:
            found = [s for s in found if s.auto_enabled]
        return found

    @_translate_errors
    async def generations(self, enterprise_ids: Sequence[str]) -> dict[str, int]:
        return await self._generations(enterprise_ids)


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

    def __init__(self, client: aredis.Redis) -> None:
        self._redis = client
        self._create_script = client.register_script(_CREATE_ENTERPRISE)
        self._roster_script = client.register_script(_SET_ROSTER_ENTRY)
        self._accept_script = client.register_script(_ACCEPT)
        self._decline_script = client.register_script(_DECLINE)
        self._begin_delete_script = client.register_script(_BEGIN_DELETE)
        self._hash_cad_script = client.register_script(_HASH_COMPARE_AND_DELETE)
        self._cas_script = client.register_script(_COMPARE_AND_SET)

    @_translate_errors
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
            args=[_ENCODER.encode(enterprise), owner_id],
        )
        return bool(created)

    @_translate_errors
    async def get(self, enterprise_id: str) -> Enterprise | None:
        return (await self._get_live([enterprise_id])).get(enterprise_id)

    @_translate_errors
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
                pipe.mget([k.enterprise(enterprise_id), k.enterprise_deleting(enterprise_id)])
            values: list[list[bytes | None]] = await pipe.execute()
        return {
            e: _ENTERPRISE_DECODER.decode(raw)
            for e, (raw, deleting) in zip(wanted, values, strict=True)
            if raw is not None and deleting is None
        }

    async def _get_raw(self, enterprise_id: str) -> Enterprise | None:
        raw = await self._redis.get(k.enterprise(enterprise_id))
        return None if raw is None else _ENTERPRISE_DECODER.decode(raw)

    @_translate_errors
    async def replace(self, enterprise: Enterprise, *, expected: Enterprise) -> None:
        if enterprise.id not in await self._get_live([enterprise.id]):
            raise NotFound(f"enterprise {enterprise.id} not found")
        # Compare-and-set on the whole record: two PATCHes cannot lose each other's change.
        swapped = await self._cas_script(
            keys=[k.enterprise(enterprise.id)],
            args=[_ENCODER.encode(expected), _ENCODER.encode(enterprise)],
        )
        if not swapped:
            raise Conflict(f"enterprise {enterprise.id} changed meanwhile; retry")

    @_translate_errors
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
            enterprise_id = _text(claimed)
        stored = await self._get_raw(enterprise_id)
        if stored is None:
            repaired = msgspec.structs.replace(candidate, id=enterprise_id)
            if await self._create(repaired, user_id):
                return _ENTERPRISE_DECODER.decode(_ENCODER.encode(repaired))
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
        hints = {_text(ent): _text(token) for ent, token in raw_hints.items()}
        if not hints:
            return {}
        enterprise_ids = sorted(hints)
        async with self._redis.pipeline(transaction=False) as pipe:
            for enterprise_id in enterprise_ids:
                pipe.hget(truth_key(enterprise_id), user_id)
            entries: list[bytes | None] = await pipe.execute()
        result: dict[str, bytes] = {}
        garbage: list[str] = []
        for enterprise_id, stored in zip(enterprise_ids, entries, strict=True):
            if stored is not None:
                result[enterprise_id] = stored
            elif _hint_age_ms(hints[enterprise_id]) > HINT_GRACE_MS:
                garbage += [enterprise_id, hints[enterprise_id]]
        if garbage:  # a removal or an add that crashed half-way: drop its hint
            await self._hash_cad_script(keys=[hints_key], args=garbage)
        return result

    @_translate_errors
    async def memberships_of(self, user_id: str) -> dict[str, Role]:
        found = await self._confirmed(user_id, k.user_memberships(user_id), k.enterprise_members)
        return {ent: cast(Role, _text(role)) for ent, role in found.items()}

    @_translate_errors
    async def invitations_of(self, user_id: str) -> dict[str, Invitation]:
        found = await self._confirmed(
            user_id, k.user_invitations(user_id), k.enterprise_invitations
        )
        live = await self._get_live(list(found))
        return {ent: _INVITATION_DECODER.decode(raw) for ent, raw in found.items() if ent in live}

    @_translate_errors
    async def members(self, enterprise_id: str) -> tuple[dict[str, Role], int]:
        roster = await self._roster(enterprise_id)
        return roster.members, roster.version

    @_translate_errors
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
            members={_text(u): cast(Role, _text(r)) for u, r in raw_members.items()},
            invitations={
                _text(u): _INVITATION_DECODER.decode(v) for u, v in raw_invitations.items()
            },
            version=_as_int(version),
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

    @_translate_errors
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

    @_translate_errors
    async def set_invitation(
        self,
        enterprise_id: str,
        user_id: str,
        invitation: Invitation | None,
        *,
        expected_version: int,
    ) -> None:
        invitations = k.enterprise_invitations(enterprise_id)
        if invitation is not None:
            await self._redis.hset(k.user_invitations(user_id), enterprise_id, _hint_token())
            await self._set_entry(
                enterprise_id, invitations, user_id, _ENCODER.encode(invitation), expected_version
            )
            return
        await self._write_then_unhint(
            k.user_invitations(user_id),
            enterprise_id,
            lambda: self._set_entry(enterprise_id, invitations, user_id, "", expected_version),
        )

    @_translate_errors
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
        return cast(Role, _text(role))

    @_translate_errors
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

    @_translate_errors
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
            args=[_ENCODER.encode(expected), time.time_ns() // 1_000_000],
        )
        if marked == 1:
            return
        await self._redis.zrem(k.DELETING, enterprise_id)
        if marked == -1:
            raise Conflict(f"enterprise {enterprise_id} changed meanwhile; retry")
        raise NotFound(f"enterprise {enterprise_id} not found")

    @_translate_errors
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

    @_translate_errors
    async def pending_deletions(self, older_than_seconds: float) -> builtins.list[str]:
        cutoff = time.time_ns() // 1_000_000 - int(older_than_seconds * 1000)
        found = cast(list[bytes], await self._redis.zrangebyscore(k.DELETING, "-inf", cutoff))
        return sorted(_text(e) for e in found)

    @_translate_errors
    async def check(self) -> None:
        await self._redis.ping()
