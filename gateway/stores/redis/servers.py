"""Personal and enterprise server records in Redis: one Lua script per write, on the owner's
slot; the locator (server id -> owner) lives in its own slot and is written first on create,
last on delete, so a crash between reads as "not found" (see keys.py)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig
from gateway.errors import Conflict, NotFound
from gateway.stores.base import EnterpriseMCPServerFilter, MCPServerFilter
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import (
    ENCODER,
    RedisClient,
    as_int,
    text,
    timestamp,
    translate_errors,
)
from gateway.stores.redis.scripts import (
    COMPARE_AND_SET,
    CREATE_SERVER,
    DELETE_SERVER,
    REPLACE_SERVER,
)

S = TypeVar("S", MCPServerConfig, EnterpriseMCPServer)

_SERVER_DECODER = msgspec.json.Decoder(MCPServerConfig)
_ENTERPRISE_SERVER_DECODER = msgspec.json.Decoder(EnterpriseMCPServer)


class _RedisServerRecords(Generic[S]):
    """What both server stores share; subclasses name the owner and its keys."""

    _decoder: msgspec.json.Decoder[S]
    _owners_key: str

    def __init__(self, client: RedisClient) -> None:
        self._redis = client
        self._create_script = client.register_script(CREATE_SERVER)
        self._replace_script = client.register_script(REPLACE_SERVER)
        self._delete_script = client.register_script(DELETE_SERVER)
        self._cas_script = client.register_script(COMPARE_AND_SET)

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
        """Keys in the owner's slot that must exist / must not (see CREATE_SERVER)."""
        return []

    @translate_errors
    async def count(self, owner: str) -> int:
        """How many servers the user or enterprise has: one SCARD (for quotas)."""
        return int(await self._redis.scard(self._index_key(owner)))

    @translate_errors
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
            args=[ENCODER.encode(server), server.id],
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
            if text(current) == owner:
                return  # ours (a dangling one, or the record exists: the script says so)
            if await self._redis.exists(self._record_key(text(current), server_id)):
                break
            # A dangling locator of another owner (its create crashed): take it over.
            if await self._cas_script(keys=[locator], args=[current, owner]):
                return
        raise Conflict(f"server {server_id} already exists")

    @translate_errors
    async def get(self, server_id: str) -> S | None:
        # Two round trips: the locator and the record live in different slots.
        owner = await self._redis.get(self._locator_key(server_id))
        if owner is None:
            return None
        raw = await self._redis.get(self._record_key(text(owner), server_id))
        return None if raw is None else self._decoder.decode(raw)

    @translate_errors
    async def replace(self, server: S, *, expected_updated_at: datetime | None = None) -> None:
        owner = self._owner(server)
        expected = "" if expected_updated_at is None else timestamp(expected_updated_at)
        replaced = await self._replace_script(
            keys=[self._record_key(owner, server.id), self._generation_key(owner)],
            args=[ENCODER.encode(server), expected],
        )
        if replaced == -1:
            raise Conflict(f"server {server.id} changed meanwhile; retry")
        if not replaced:
            raise NotFound(f"server {server.id} not found")

    @translate_errors
    async def delete(
        self, server_id: str, *, expected_updated_at: datetime | None = None
    ) -> S | None:
        locator = self._locator_key(server_id)
        owner = await self._redis.get(locator)
        if owner is None:
            return None
        expected = "" if expected_updated_at is None else timestamp(expected_updated_at)
        raw = await self._delete_script(
            keys=[
                self._record_key(text(owner), server_id),
                self._index_key(text(owner)),
                self._generation_key(text(owner)),
            ],
            args=[server_id, expected],
        )
        if raw == -1:
            raise Conflict(f"server {server_id} changed meanwhile; retry")
        # Locator last, and only if it still names this owner; also clears a dangling one.
        await self._cas_script(keys=[locator], args=[owner, b""])
        return None if raw is None else self._decoder.decode(raw)

    @translate_errors
    async def check(self) -> None:
        await self._redis.ping()

    async def _all_owners(self) -> builtins.list[str]:
        return sorted(text(o) for o in await self._redis.smembers(self._owners_key))

    async def _list_owned(self, owners: Sequence[str]) -> builtins.list[S]:
        """One pipeline of SMEMBERS, then one of MGETs (each MGET stays in its owner's slot).

        The MGETs are queued with `execute_command`: a cluster pipeline refuses `pipe.mget`
        (it cannot know the keys share a slot), not the command; the server still rejects
        one that spans slots (CROSSSLOT)."""
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
                pipe.execute_command("MGET", *(self._record_key(owner, text(i)) for i in ids))
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
        return {o: as_int(v) for o, v in zip(owners, values, strict=True)}


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

    @translate_errors
    async def list(self, flt: MCPServerFilter) -> builtins.list[MCPServerConfig]:
        owners = await self._all_owners() if flt.user_id is None else [flt.user_id]
        return await self._list_owned(owners)

    @translate_errors
    async def generation(self, user_id: str) -> int:
        return as_int(await self._redis.get(k.user_generation(user_id)))


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

    @translate_errors
    async def list(self, flt: EnterpriseMCPServerFilter) -> builtins.list[EnterpriseMCPServer]:
        if flt.enterprise_ids is None:
            owners = await self._all_owners()
        else:
            owners = list(dict.fromkeys(flt.enterprise_ids))
        found = await self._list_owned(owners)
        if flt.auto_enabled_only:
            found = [s for s in found if s.auto_enabled]
        return found

    @translate_errors
    async def generations(self, enterprise_ids: Sequence[str]) -> dict[str, int]:
        return await self._generations(enterprise_ids)
