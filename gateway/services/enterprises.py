"""Enterprises and their members (ADR-0004's account model). Who may do what is the policy's:
Python gathers the facts a rule needs (current role, how many owners) and applies the answer."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import msgspec

from gateway.domain.enterprises import (
    Enterprise,
    EnterpriseCreate,
    EnterprisePatch,
    EnterpriseWithRole,
    Member,
)
from gateway.domain.ids import ENTERPRISE_PREFIX, new_id
from gateway.domain.subjects import Role, Subject
from gateway.errors import NotFound
from gateway.policy.decider import Authorizer
from gateway.stores.base import EnterpriseStore


def enterprise_resource(enterprise: Enterprise) -> dict[str, Any]:
    return {
        "type": "enterprise",
        "id": enterprise.id,
        "enterprise_id": enterprise.id,
        "kind": enterprise.kind,
    }


def _with_role(enterprise: Enterprise, role: Role | None) -> EnterpriseWithRole:
    return EnterpriseWithRole(
        **{f: getattr(enterprise, f) for f in enterprise.__struct_fields__}, role=role
    )


def _role_of(subject: Subject, enterprise_id: str) -> Role | None:
    membership = subject.memberships.get(enterprise_id)
    return membership.role if membership else None


def _as_of(subject: Subject, enterprise_id: str, members: dict[str, Role]) -> Subject:
    """The subject as of the member list the write will be checked against (409 if that
    list changes), so a grant lost meanwhile cannot authorize the change."""
    memberships = dict(subject.memberships)
    current = memberships.pop(enterprise_id, None)
    granted = members.get(subject.id)
    if current is not None and granted is not None:
        memberships[enterprise_id] = msgspec.structs.replace(current, role=granted)
    return msgspec.structs.replace(subject, memberships=memberships)


class EnterpriseService:
    def __init__(self, authorizer: Authorizer, enterprises: EnterpriseStore) -> None:
        self._authorizer = authorizer
        self._enterprises = enterprises

    async def list_mine(self, subject: Subject) -> list[EnterpriseWithRole]:
        await self._authorizer.require(
            "enterprise.list", subject, {"type": "enterprise"}, what="enterprises"
        )
        found = await self._enterprises.get_many(sorted(subject.memberships))
        return [_with_role(found[e], subject.memberships[e].role) for e in sorted(found)]

    async def create(self, subject: Subject, body: EnterpriseCreate) -> EnterpriseWithRole:
        await self._authorizer.require(
            "enterprise.create",
            subject,
            {"type": "enterprise", "kind": "organization"},
            what="enterprise",
        )
        enterprise = Enterprise(
            id=new_id(ENTERPRISE_PREFIX),
            name=body.name,
            kind="organization",
            created_at=datetime.now(UTC),
            restrict_installs_to_approved=body.restrict_installs_to_approved,
        )
        await self._enterprises.create(enterprise, subject.id)
        return _with_role(enterprise, "owner")

    async def load(self, subject: Subject, enterprise_id: str, action: str) -> Enterprise:
        enterprise = await self._enterprises.get(enterprise_id)
        if enterprise is None:
            await self._authorizer.missing(
                action,
                subject,
                {"type": "enterprise", "id": enterprise_id, "enterprise_id": enterprise_id},
                what=f"enterprise {enterprise_id}",
            )
        return enterprise

    async def authorized(self, subject: Subject, enterprise_id: str, action: str) -> Enterprise:
        enterprise = await self.load(subject, enterprise_id, action)
        await self._authorizer.require(
            action, subject, enterprise_resource(enterprise), what=f"enterprise {enterprise_id}"
        )
        return enterprise

    async def get(self, subject: Subject, enterprise_id: str) -> EnterpriseWithRole:
        enterprise = await self.authorized(subject, enterprise_id, "enterprise.read")
        return _with_role(enterprise, _role_of(subject, enterprise_id))

    async def update(
        self, subject: Subject, enterprise_id: str, patch: EnterprisePatch
    ) -> EnterpriseWithRole:
        enterprise = await self.authorized(subject, enterprise_id, "enterprise.update")
        changes = {
            f: getattr(patch, f)
            for f in patch.__struct_fields__
            if getattr(patch, f) is not msgspec.UNSET
        }
        updated = msgspec.structs.replace(enterprise, **changes)
        await self._enterprises.replace(updated, expected=enterprise)
        return _with_role(updated, _role_of(subject, enterprise_id))

    async def members(self, subject: Subject, enterprise_id: str) -> list[Member]:
        await self.authorized(subject, enterprise_id, "enterprise.members.read")
        members, _ = await self._enterprises.members(enterprise_id)
        return [Member(user_id=u, role=r) for u, r in sorted(members.items())]

    async def _change(
        self, subject: Subject, enterprise_id: str, user_id: str, new_role: Role | None
    ) -> None:
        action = "enterprise.members.delete" if new_role is None else "enterprise.members.put"
        enterprise = await self.load(subject, enterprise_id, action)
        members, version = await self._enterprises.members(enterprise_id)
        await self._authorizer.require(
            action,
            _as_of(subject, enterprise_id, members),
            {
                "type": "enterprise_member",
                "enterprise_id": enterprise_id,
                "enterprise_kind": enterprise.kind,
                "user_id": user_id,
                "current_role": members.get(user_id),
                "new_role": new_role,
                "owner_count": Counter(members.values())["owner"],
            },
            what=f"enterprise {enterprise_id}",
        )
        if new_role is None and user_id not in members:
            raise NotFound(f"{user_id} is not a member of {enterprise_id}")
        # The policy decided on this member list; the store refuses the write (409) if it
        # changed meanwhile, so two concurrent demotions cannot remove the last owner.
        await self._enterprises.set_member(
            enterprise_id, user_id, new_role, expected_version=version
        )

    async def put_member(
        self, subject: Subject, enterprise_id: str, user_id: str, role: Role
    ) -> Member:
        await self._change(subject, enterprise_id, user_id, role)
        return Member(user_id=user_id, role=role)

    async def remove_member(self, subject: Subject, enterprise_id: str, user_id: str) -> None:
        await self._change(subject, enterprise_id, user_id, None)
