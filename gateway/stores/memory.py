"""In-memory stores: the embedded default, ephemeral by design (ADR-0008)."""

from __future__ import annotations

import builtins
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import msgspec

from gateway.domain.enterprises import Enterprise
from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig
from gateway.domain.subjects import Role
from gateway.errors import Conflict, NotFound
from gateway.stores.base import EnterpriseMCPServerFilter, MCPServerFilter

T = TypeVar("T", bound=msgspec.Struct)


def _copy(value: T) -> T:
    # Callers must not be able to mutate what is stored (the Redis store can't either).
    return msgspec.json.decode(msgspec.json.encode(value), type=type(value))


def _check_unchanged(
    stored: MCPServerConfig | EnterpriseMCPServer, expected: datetime | None
) -> None:
    if expected is not None and stored.updated_at != expected:
        raise Conflict(f"server {stored.id} changed meanwhile; retry")


class MemoryMCPServerStore:
    def __init__(self) -> None:
        self._servers: dict[str, MCPServerConfig] = {}
        self._gens: dict[str, int] = defaultdict(int)

    async def create(self, server: MCPServerConfig) -> None:
        if server.id in self._servers:
            raise Conflict(f"server {server.id} already exists")
        self._servers[server.id] = _copy(server)
        self._gens[server.user_id] += 1

    async def get(self, server_id: str) -> MCPServerConfig | None:
        found = self._servers.get(server_id)
        return _copy(found) if found else None

    async def list(self, flt: MCPServerFilter) -> builtins.list[MCPServerConfig]:
        return [
            _copy(s) for _, s in sorted(self._servers.items()) if flt.user_id in (None, s.user_id)
        ]

    async def replace(
        self, server: MCPServerConfig, *, expected_updated_at: datetime | None = None
    ) -> None:
        if server.id not in self._servers:
            raise NotFound(f"server {server.id} not found")
        _check_unchanged(self._servers[server.id], expected_updated_at)
        self._servers[server.id] = _copy(server)
        self._gens[server.user_id] += 1

    async def delete(
        self, server_id: str, *, expected_updated_at: datetime | None = None
    ) -> MCPServerConfig | None:
        if server_id in self._servers:
            _check_unchanged(self._servers[server_id], expected_updated_at)
        found = self._servers.pop(server_id, None)
        if found:
            self._gens[found.user_id] += 1
        return found

    async def generation(self, user_id: str) -> int:
        return self._gens[user_id]

    async def check(self) -> None:
        return None


class MemoryEnterpriseMCPServerStore:
    def __init__(self) -> None:
        self._servers: dict[str, EnterpriseMCPServer] = {}
        self._gens: dict[str, int] = defaultdict(int)

    async def create(self, server: EnterpriseMCPServer) -> None:
        if server.id in self._servers:
            raise Conflict(f"server {server.id} already exists")
        self._servers[server.id] = _copy(server)
        self._gens[server.enterprise_id] += 1

    async def get(self, server_id: str) -> EnterpriseMCPServer | None:
        found = self._servers.get(server_id)
        return _copy(found) if found else None

    async def list(self, flt: EnterpriseMCPServerFilter) -> builtins.list[EnterpriseMCPServer]:
        wanted = None if flt.enterprise_ids is None else set(flt.enterprise_ids)
        return [
            _copy(s)
            for _, s in sorted(self._servers.items())
            if (wanted is None or s.enterprise_id in wanted)
            and (s.auto_enabled or not flt.auto_enabled_only)
        ]

    async def replace(
        self, server: EnterpriseMCPServer, *, expected_updated_at: datetime | None = None
    ) -> None:
        if server.id not in self._servers:
            raise NotFound(f"server {server.id} not found")
        _check_unchanged(self._servers[server.id], expected_updated_at)
        self._servers[server.id] = _copy(server)
        self._gens[server.enterprise_id] += 1

    async def delete(
        self, server_id: str, *, expected_updated_at: datetime | None = None
    ) -> EnterpriseMCPServer | None:
        if server_id in self._servers:
            _check_unchanged(self._servers[server_id], expected_updated_at)
        found = self._servers.pop(server_id, None)
        if found:
            self._gens[found.enterprise_id] += 1
        return found

    async def generations(self, enterprise_ids: Sequence[str]) -> dict[str, int]:
        return {e: self._gens[e] for e in enterprise_ids}

    async def check(self) -> None:
        return None


class MemoryEnterpriseStore:
    def __init__(self) -> None:
        self._enterprises: dict[str, Enterprise] = {}
        self._members: dict[str, dict[str, Role]] = defaultdict(dict)
        self._versions: dict[str, int] = defaultdict(int)
        self._personal: dict[str, str] = {}

    async def create(self, enterprise: Enterprise, owner_id: str) -> None:
        if enterprise.id in self._enterprises:
            raise Conflict(f"enterprise {enterprise.id} already exists")
        self._enterprises[enterprise.id] = _copy(enterprise)
        self._members[enterprise.id][owner_id] = "owner"
        self._versions[enterprise.id] += 1

    async def get(self, enterprise_id: str) -> Enterprise | None:
        found = self._enterprises.get(enterprise_id)
        return _copy(found) if found else None

    async def get_many(self, enterprise_ids: Sequence[str]) -> dict[str, Enterprise]:
        return {e: _copy(self._enterprises[e]) for e in enterprise_ids if e in self._enterprises}

    async def replace(self, enterprise: Enterprise, *, expected: Enterprise) -> None:
        if enterprise.id not in self._enterprises:
            raise NotFound(f"enterprise {enterprise.id} not found")
        if self._enterprises[enterprise.id] != expected:
            raise Conflict(f"enterprise {enterprise.id} changed meanwhile; retry")
        self._enterprises[enterprise.id] = _copy(enterprise)

    async def ensure_personal(self, user_id: str, candidate: Enterprise) -> Enterprise:
        # No await between the check and the write: atomic on the event loop.
        existing = self._personal.get(user_id)
        if existing is None:
            self._personal[user_id] = candidate.id
            self._enterprises[candidate.id] = _copy(candidate)
            self._members[candidate.id][user_id] = "owner"
            self._versions[candidate.id] += 1
            return _copy(candidate)
        return _copy(self._enterprises[existing])

    async def memberships_of(self, user_id: str) -> dict[str, Role]:
        return {e: m[user_id] for e, m in sorted(self._members.items()) if user_id in m}

    async def members(self, enterprise_id: str) -> tuple[dict[str, Role], int]:
        return dict(self._members.get(enterprise_id, {})), self._versions[enterprise_id]

    async def set_member(
        self, enterprise_id: str, user_id: str, role: Role | None, *, expected_version: int
    ) -> None:
        if self._versions[enterprise_id] != expected_version:
            raise Conflict("the member list changed meanwhile; retry")
        if role is None:
            self._members[enterprise_id].pop(user_id, None)
        else:
            self._members[enterprise_id][user_id] = role
        self._versions[enterprise_id] += 1

    async def check(self) -> None:
        return None
