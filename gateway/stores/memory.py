"""In-memory stores: the embedded default, ephemeral by design (ADR-0008)."""

from __future__ import annotations

import builtins
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from gateway.domain.enterprises import Enterprise, Invitation
from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig
from gateway.domain.subjects import Role
from gateway.errors import Conflict, NotFound
from gateway.stores.base import EnterpriseMCPServerFilter, MCPServerFilter, Roster

T = TypeVar("T", bound=msgspec.Struct)
S = TypeVar("S", MCPServerConfig, EnterpriseMCPServer)


def _copy(value: T) -> T:
    # Callers must not be able to mutate what is stored (the Redis store can't either).
    return msgspec.json.decode(msgspec.json.encode(value), type=type(value))


def _check_unchanged(
    stored: MCPServerConfig | EnterpriseMCPServer, expected: datetime | None
) -> None:
    if expected is not None and stored.updated_at != expected:
        raise Conflict(f"server {stored.id} changed meanwhile; retry")


class _MemoryServerRecords(Generic[S]):
    """What both server stores share; subclasses say who owns a server."""

    def __init__(self) -> None:
        self._servers: dict[str, S] = {}
        self._gens: dict[str, int] = defaultdict(int)

    def _owner(self, server: S) -> str:
        raise NotImplementedError

    async def create(self, server: S) -> None:
        if server.id in self._servers:
            raise Conflict(f"server {server.id} already exists")
        self._servers[server.id] = _copy(server)
        self._gens[self._owner(server)] += 1

    async def get(self, server_id: str) -> S | None:
        found = self._servers.get(server_id)
        return _copy(found) if found else None

    async def replace(self, server: S, *, expected_updated_at: datetime | None = None) -> None:
        if server.id not in self._servers:
            raise NotFound(f"server {server.id} not found")
        _check_unchanged(self._servers[server.id], expected_updated_at)
        self._servers[server.id] = _copy(server)
        self._gens[self._owner(server)] += 1

    async def delete(
        self, server_id: str, *, expected_updated_at: datetime | None = None
    ) -> S | None:
        if server_id in self._servers:
            _check_unchanged(self._servers[server_id], expected_updated_at)
        found = self._servers.pop(server_id, None)
        if found:
            self._gens[self._owner(found)] += 1
        return found

    async def count(self, owner: str) -> int:
        return sum(1 for s in self._servers.values() if self._owner(s) == owner)

    def _listed(self, keep: Callable[[S], bool]) -> builtins.list[S]:
        return [_copy(s) for _, s in sorted(self._servers.items()) if keep(s)]

    async def check(self) -> None:
        return None


class MemoryMCPServerStore(_MemoryServerRecords[MCPServerConfig]):
    def _owner(self, server: MCPServerConfig) -> str:
        return server.user_id

    async def list(self, flt: MCPServerFilter) -> builtins.list[MCPServerConfig]:
        return self._listed(lambda s: flt.user_id in (None, s.user_id))

    async def generation(self, user_id: str) -> int:
        return self._gens[user_id]


class MemoryEnterpriseMCPServerStore(_MemoryServerRecords[EnterpriseMCPServer]):
    def __init__(self, enterprises: MemoryEnterpriseStore | None = None) -> None:
        super().__init__()
        # When given, a server cannot be created for an enterprise that is gone or being
        # deleted (as the Redis store guarantees in its create script).
        self._enterprises = enterprises

    def _owner(self, server: EnterpriseMCPServer) -> str:
        return server.enterprise_id

    async def create(self, server: EnterpriseMCPServer) -> None:
        if self._enterprises is not None and not self._enterprises.is_live(server.enterprise_id):
            raise NotFound(f"owner {server.enterprise_id} of server {server.id} not found")
        await super().create(server)

    async def list(self, flt: EnterpriseMCPServerFilter) -> builtins.list[EnterpriseMCPServer]:
        wanted = None if flt.enterprise_ids is None else set(flt.enterprise_ids)
        return self._listed(
            lambda s: (
                (wanted is None or s.enterprise_id in wanted)
                and (s.auto_enabled or not flt.auto_enabled_only)
            )
        )

    async def generations(self, enterprise_ids: Sequence[str]) -> dict[str, int]:
        return {e: self._gens[e] for e in enterprise_ids}


class MemoryEnterpriseStore:
    """No await between a check and its write: every method is atomic on the event loop."""

    def __init__(self) -> None:
        self._enterprises: dict[str, Enterprise] = {}
        self._members: dict[str, dict[str, Role]] = defaultdict(dict)
        self._invitations: dict[str, dict[str, Invitation]] = defaultdict(dict)
        self._versions: dict[str, int] = defaultdict(int)
        self._personal: dict[str, str] = {}
        self._deleting: dict[str, float] = {}  # enterprise id -> when its deletion began

    async def create(self, enterprise: Enterprise, owner_id: str) -> None:
        if enterprise.id in self._enterprises:
            raise Conflict(f"enterprise {enterprise.id} already exists")
        self._enterprises[enterprise.id] = _copy(enterprise)
        self._members[enterprise.id][owner_id] = "owner"
        self._versions[enterprise.id] += 1

    def is_live(self, enterprise_id: str) -> bool:
        return self._live(enterprise_id) is not None

    def _live(self, enterprise_id: str) -> Enterprise | None:
        if enterprise_id in self._deleting:
            return None
        return self._enterprises.get(enterprise_id)

    async def get(self, enterprise_id: str) -> Enterprise | None:
        found = self._live(enterprise_id)
        return _copy(found) if found else None

    async def get_many(self, enterprise_ids: Sequence[str]) -> dict[str, Enterprise]:
        found = {e: self._live(e) for e in enterprise_ids}
        return {e: _copy(ent) for e, ent in found.items() if ent is not None}

    async def replace(self, enterprise: Enterprise, *, expected: Enterprise) -> None:
        if self._live(enterprise.id) is None:
            raise NotFound(f"enterprise {enterprise.id} not found")
        if self._enterprises[enterprise.id] != expected:
            raise Conflict(f"enterprise {enterprise.id} changed meanwhile; retry")
        self._enterprises[enterprise.id] = _copy(enterprise)

    async def ensure_personal(self, user_id: str, candidate: Enterprise) -> Enterprise:
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

    async def memberships_with_records(self, user_id: str) -> dict[str, tuple[Role, Enterprise]]:
        roles = await self.memberships_of(user_id)
        records = await self.get_many(list(roles))
        return {e: (role, records[e]) for e, role in roles.items() if e in records}

    async def members(self, enterprise_id: str) -> tuple[dict[str, Role], int]:
        return dict(self._members.get(enterprise_id, {})), self._versions[enterprise_id]

    async def roster(self, enterprise_id: str) -> Roster:
        return Roster(
            members=dict(self._members.get(enterprise_id, {})),
            invitations=dict(self._invitations.get(enterprise_id, {})),
            version=self._versions[enterprise_id],
        )

    def _check_version(self, enterprise_id: str, expected_version: int) -> None:
        if self._versions[enterprise_id] != expected_version:
            raise Conflict("the member list changed meanwhile; retry")

    async def set_member(
        self, enterprise_id: str, user_id: str, role: Role | None, *, expected_version: int
    ) -> None:
        self._check_version(enterprise_id, expected_version)
        if role is None:
            self._members[enterprise_id].pop(user_id, None)
        else:
            self._members[enterprise_id][user_id] = role
        self._versions[enterprise_id] += 1

    async def invite(self, invitation: Invitation, *, expected_version: int) -> None:
        self._check_version(invitation.enterprise_id, expected_version)
        self._invitations[invitation.enterprise_id][invitation.user_id] = invitation
        self._versions[invitation.enterprise_id] += 1

    async def revoke(self, enterprise_id: str, user_id: str, *, expected_version: int) -> None:
        self._check_version(enterprise_id, expected_version)
        self._invitations[enterprise_id].pop(user_id, None)
        self._versions[enterprise_id] += 1

    async def accept(self, enterprise_id: str, user_id: str) -> Role:
        invitation = self._invitations[enterprise_id].pop(user_id, None)
        if invitation is None or self._live(enterprise_id) is None:
            raise NotFound(f"no invitation to {enterprise_id}")
        self._members[enterprise_id][user_id] = invitation.role
        self._versions[enterprise_id] += 1
        return invitation.role

    async def decline(self, enterprise_id: str, user_id: str) -> None:
        if self._invitations[enterprise_id].pop(user_id, None) is None:
            raise NotFound(f"no invitation to {enterprise_id}")
        self._versions[enterprise_id] += 1

    async def invitations_of(self, user_id: str) -> dict[str, Invitation]:
        return {
            e: invitations[user_id]
            for e, invitations in sorted(self._invitations.items())
            if user_id in invitations and self._live(e) is not None
        }

    async def begin_delete(self, enterprise_id: str, *, expected: Enterprise) -> None:
        current = self._live(enterprise_id)
        if current is None:
            raise NotFound(f"enterprise {enterprise_id} not found")
        if current != expected:
            raise Conflict(f"enterprise {enterprise_id} changed meanwhile; retry")
        self._deleting[enterprise_id] = time.time()
        self._versions[enterprise_id] += 1

    async def finish_delete(self, enterprise_id: str) -> None:
        self._enterprises.pop(enterprise_id, None)
        self._members.pop(enterprise_id, None)
        self._invitations.pop(enterprise_id, None)
        self._deleting.pop(enterprise_id, None)

    async def pending_deletions(self, older_than_seconds: float) -> builtins.list[str]:
        cutoff = time.time() - older_than_seconds
        return sorted(e for e, began in self._deleting.items() if began <= cutoff)

    async def check(self) -> None:
        return None
