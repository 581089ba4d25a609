"""The store SPI: small async interfaces every backend implements.

Each write bumps a generation counter of the user or enterprise it changes; the merged
view cache keys on those counters, so a write invalidates every affected view in O(1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import msgspec

from gateway.domain.decisions import ViewScope
from gateway.domain.enterprises import Enterprise, Invitation
from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig
from gateway.domain.subjects import Role
from gateway.stores.snapshots import ViewSnapshot


class MCPServerFilter(msgspec.Struct, kw_only=True, frozen=True):
    """`user_id=None` lists every user's servers (the unscoped local-dev view)."""

    user_id: str | None


class EnterpriseMCPServerFilter(msgspec.Struct, kw_only=True, frozen=True):
    """`enterprise_ids=None` lists every enterprise's servers (unscoped)."""

    enterprise_ids: Sequence[str] | None
    auto_enabled_only: bool = False


class Roster(msgspec.Struct, kw_only=True, frozen=True):
    """An enterprise's active members and pending invitations, one snapshot, and the
    version a write checks (`expected_version`) so a decision on a stale roster is a 409."""

    members: dict[str, Role]
    invitations: dict[str, Invitation]
    version: int


class MCPServerStore(Protocol):
    async def create(self, server: MCPServerConfig) -> None:
        """Raise Conflict when the id exists."""

    async def get(self, server_id: str) -> MCPServerConfig | None: ...

    async def list(self, flt: MCPServerFilter) -> list[MCPServerConfig]:
        """Sorted by id (creation order)."""

    async def replace(
        self, server: MCPServerConfig, *, expected_updated_at: datetime | None = None
    ) -> None:
        """Raise NotFound when the server was deleted meanwhile, Conflict when it was changed
        since the caller read it (its `updated_at` is no longer `expected_updated_at`)."""

    async def delete(
        self, server_id: str, *, expected_updated_at: datetime | None = None
    ) -> MCPServerConfig | None:
        """None when missing; Conflict when changed since read (as for `replace`)."""

    async def count(self, owner: str) -> int:
        """How many servers the user has (for quotas; one cheap read)."""

    async def generation(self, user_id: str) -> int:
        """Bumped by every write to this user's servers."""

    async def check(self) -> None: ...


class EnterpriseMCPServerStore(Protocol):
    async def create(self, server: EnterpriseMCPServer) -> None: ...

    async def get(self, server_id: str) -> EnterpriseMCPServer | None: ...

    async def list(self, flt: EnterpriseMCPServerFilter) -> list[EnterpriseMCPServer]: ...

    async def replace(
        self, server: EnterpriseMCPServer, *, expected_updated_at: datetime | None = None
    ) -> None: ...

    async def delete(
        self, server_id: str, *, expected_updated_at: datetime | None = None
    ) -> EnterpriseMCPServer | None: ...

    async def count(self, owner: str) -> int:
        """How many servers the enterprise has (for quotas; one cheap read)."""

    async def generations(self, enterprise_ids: Sequence[str]) -> dict[str, int]:
        """Bumped by every write to the enterprise's servers."""

    async def check(self) -> None: ...


class EnterpriseStore(Protocol):
    async def create(self, enterprise: Enterprise, owner_id: str) -> None:
        """The enterprise and its first owner, together."""

    async def get(self, enterprise_id: str) -> Enterprise | None:
        """None when missing, or being deleted (see `begin_delete`)."""

    async def get_many(self, enterprise_ids: Sequence[str]) -> dict[str, Enterprise]:
        """The ones that exist, in one round trip."""

    async def replace(self, enterprise: Enterprise, *, expected: Enterprise) -> None:
        """Raise NotFound when missing, Conflict when the stored record is not `expected`."""

    async def ensure_personal(self, user_id: str, candidate: Enterprise) -> Enterprise:
        """Exactly one personal enterprise per user, even under concurrent first requests:
        the candidate is stored only if the user has none yet; the winner is returned."""

    async def memberships_of(self, user_id: str) -> dict[str, Role]:
        """enterprise id -> role, from the enterprises' own member lists (the truth)."""

    async def memberships_with_records(self, user_id: str) -> dict[str, tuple[Role, Enterprise]]:
        """enterprise id -> (role, record) for the user's live enterprises (not being
        deleted): `memberships_of` and `get_many` in fewer round trips."""

    async def members(self, enterprise_id: str) -> tuple[dict[str, Role], int]:
        """user id -> role, and the member-list version for `set_member`'s check."""

    async def set_member(
        self, enterprise_id: str, user_id: str, role: Role | None, *, expected_version: int
    ) -> None:
        """Add, change (role) or remove (None) a member. Raise Conflict when the member list
        changed since `expected_version` (the policy decided on a stale list)."""

    async def roster(self, enterprise_id: str) -> Roster:
        """Members, invitations and their version, read as one snapshot."""

    async def invite(self, invitation: Invitation, *, expected_version: int) -> None:
        """Create or replace the invitee's invitation; Conflict when the roster changed since
        `expected_version`."""

    async def revoke(self, enterprise_id: str, user_id: str, *, expected_version: int) -> None:
        """Drop the user's invitation (owners and admins revoke; Conflict as above)."""

    async def accept(self, enterprise_id: str, user_id: str) -> Role:
        """Atomically turn the user's invitation into an active membership with the invited
        role. Raise NotFound when there is no invitation (anymore)."""

    async def decline(self, enterprise_id: str, user_id: str) -> None:
        """Drop the user's invitation; raise NotFound when there is none."""

    async def invitations_of(self, user_id: str) -> dict[str, Invitation]:
        """enterprise id -> the user's pending invitation, from the enterprises' own lists."""

    async def begin_delete(self, enterprise_id: str, *, expected: Enterprise) -> None:
        """Mark the enterprise as being deleted: from then on it is invisible (`get` is None,
        no subject has it among their memberships) while its servers and secrets are removed.
        Raise NotFound when missing, Conflict when the record is not `expected`."""

    async def finish_delete(self, enterprise_id: str) -> None:
        """Remove the record, members, invitations and the deletion mark (idempotent)."""

    async def pending_deletions(self, older_than_seconds: float) -> list[str]:
        """Enterprises marked for deletion longer ago than that: a crash cut them short."""

    async def check(self) -> None: ...


class ViewLoader(Protocol):
    async def __call__(self) -> list[MCPServerConfig | EnterpriseMCPServer]: ...


class ViewCache(Protocol):
    """Merged views computed once and served again only while nothing they depend on moved
    (the Redis adapter: gateway/stores/redis/view_cache.py)."""

    async def get_or_compute(
        self, user_id: str, scope: ViewScope, compute: ViewLoader
    ) -> ViewSnapshot: ...


class SubjectReads(Protocol):
    """What every authenticated request reads about its subject, in as few round trips as
    the backend allows (one on a single Redis)."""

    async def read(self, user_id: str) -> dict[str, tuple[Role, Enterprise]]:
        """Count one request against the subject's rate limit (RateLimited beyond it), then
        `EnterpriseStore.memberships_with_records`."""
        ...
