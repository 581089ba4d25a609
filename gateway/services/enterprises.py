"""Enterprises, their members and invitations (ADR-0004's account model). Who may do what is
the policy's: Python gathers the facts a rule needs (the roster, how many owners) and applies
the answer. Nobody becomes a member without accepting an invitation."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from gateway.domain.enterprises import (
    Enterprise,
    EnterpriseCreate,
    EnterprisePatch,
    EnterpriseWithRole,
    Invitation,
    Member,
    PendingInvitation,
)
from gateway.domain.ids import ENTERPRISE_PREFIX, new_id
from gateway.domain.subjects import MemberStatus, Role, Subject
from gateway.domain.versions import IfMatch, version_held
from gateway.errors import NotFound
from gateway.policy import inputs
from gateway.policy.decider import Authorizer, apply
from gateway.services.deletions import EnterpriseDeletions
from gateway.stores.base import EnterpriseStore, Roster


def _with_role(enterprise: Enterprise, role: Role | None) -> EnterpriseWithRole:
    return EnterpriseWithRole(
        **{f: getattr(enterprise, f) for f in enterprise.__struct_fields__}, role=role
    )


def _role_of(subject: Subject, enterprise_id: str) -> Role | None:
    membership = subject.memberships.get(enterprise_id)
    return membership.role if membership else None


def _as_of(subject: Subject, enterprise_id: str, members: dict[str, Role]) -> Subject:
    """The subject as of the roster the write will be checked against (409 if that roster
    changes), so a grant lost meanwhile cannot authorize the change."""
    memberships = dict(subject.memberships)
    current = memberships.pop(enterprise_id, None)
    granted = members.get(subject.id)
    if current is not None and granted is not None:
        memberships[enterprise_id] = msgspec.structs.replace(current, role=granted)
    return msgspec.structs.replace(subject, memberships=memberships)


def _member_resource(
    enterprise: Enterprise, roster: Roster, user_id: str
) -> inputs.EnterpriseMemberResource:
    """`user_id`'s place in the enterprise as the roster has it: active, invited or neither."""
    invitation = roster.invitations.get(user_id)
    role = roster.members.get(user_id)
    status: MemberStatus | None = (
        "active" if role is not None else ("invited" if invitation else None)
    )
    return inputs.EnterpriseMemberResource(
        exists=status is not None,
        enterprise_id=enterprise.id,
        enterprise_kind=enterprise.kind,
        user_id=user_id,
        role=role if role is not None else (invitation.role if invitation else None),
        status=status,
        owner_count=sum(1 for r in roster.members.values() if r == "owner"),
        invited_by=invitation.invited_by if invitation else None,
    )


class EnterpriseService:
    def __init__(
        self, authorizer: Authorizer, enterprises: EnterpriseStore, deletions: EnterpriseDeletions
    ) -> None:
        self._authorizer = authorizer
        self._enterprises = enterprises
        self._deletions = deletions

    async def list_mine(self, subject: Subject) -> list[EnterpriseWithRole]:
        await self._authorizer.require(
            "enterprise.list", subject, inputs.EnterpriseResource(), what="enterprises"
        )
        found = await self._enterprises.get_many(sorted(subject.memberships))
        return [_with_role(found[e], subject.memberships[e].role) for e in sorted(found)]

    async def create(self, subject: Subject, body: EnterpriseCreate) -> EnterpriseWithRole:
        enterprise = Enterprise(
            id=new_id(ENTERPRISE_PREFIX),
            name=body.name,
            kind="organization",
            created_at=datetime.now(UTC),
            restrict_installs_to_approved=body.restrict_installs_to_approved,
        )
        proposed = inputs.enterprise(enterprise)
        await self._authorizer.require(
            "enterprise.create", subject, proposed, proposed, what="enterprise"
        )
        await self._enterprises.create(enterprise, subject.id)
        return _with_role(enterprise, "owner")

    async def load(self, subject: Subject, enterprise_id: str, action: str) -> Enterprise:
        enterprise = await self._enterprises.get(enterprise_id)
        if enterprise is None:
            await self._authorizer.missing(
                action,
                subject,
                inputs.missing(
                    inputs.EnterpriseResource, enterprise_id, enterprise_id=enterprise_id
                ),
                what=f"enterprise {enterprise_id}",
            )
        return enterprise

    async def authorized(self, subject: Subject, enterprise_id: str, action: str) -> Enterprise:
        enterprise = await self.load(subject, enterprise_id, action)
        await self._authorizer.require(
            action, subject, inputs.enterprise(enterprise), what=f"enterprise {enterprise_id}"
        )
        return enterprise

    async def get(self, subject: Subject, enterprise_id: str) -> EnterpriseWithRole:
        enterprise = await self.authorized(subject, enterprise_id, "enterprise.read")
        return _with_role(enterprise, _role_of(subject, enterprise_id))

    async def update(
        self,
        subject: Subject,
        enterprise_id: str,
        patch: EnterprisePatch,
        *,
        if_match: IfMatch | None = None,
    ) -> EnterpriseWithRole:
        enterprise = await self.load(subject, enterprise_id, "enterprise.update")
        changes = {
            f: getattr(patch, f)
            for f in patch.__struct_fields__
            if getattr(patch, f) is not msgspec.UNSET
        }
        updated = msgspec.structs.replace(enterprise, **changes)
        await self._authorizer.require(
            "enterprise.update",
            subject,
            inputs.enterprise(enterprise),
            inputs.enterprise(updated),
            what=f"enterprise {enterprise_id}",
        )
        what = f"enterprise {enterprise_id}"
        if if_match is not None:  # the ETag is of what the caller reads: record and role
            if_match.check(_with_role(enterprise, _role_of(subject, enterprise_id)), what)
        with version_held(if_match, what):  # the compare-and-set is on the checked record
            await self._enterprises.replace(updated, expected=enterprise)
        return _with_role(updated, _role_of(subject, enterprise_id))

    async def delete(
        self, subject: Subject, enterprise_id: str, *, if_match: IfMatch | None = None
    ) -> None:
        """Hidden at once, then its servers, their secrets, the roster and the record go (a
        crash midway is finished by `EnterpriseDeletions`)."""
        enterprise = await self.authorized(subject, enterprise_id, "enterprise.delete")
        what = f"enterprise {enterprise_id}"
        if if_match is not None:
            if_match.check(_with_role(enterprise, _role_of(subject, enterprise_id)), what)
        with version_held(if_match, what):
            await self._enterprises.begin_delete(enterprise_id, expected=enterprise)
        await self._deletions.finish(enterprise_id)

    # --- the roster -----------------------------------------------------------------------

    async def members(self, subject: Subject, enterprise_id: str) -> list[Member]:
        enterprise = await self.authorized(subject, enterprise_id, "enterprise.members.read")
        roster = await self._enterprises.roster(enterprise_id)
        listed = [Member(user_id=u, role=r) for u, r in roster.members.items()]
        # Invitees are listed only to whom the policy shows invitations (owners and admins).
        sees_invitations = await self._authorizer.decide(
            "enterprise.invitations.read", subject, inputs.enterprise(enterprise)
        )
        if sees_invitations.allow and sees_invitations.visible:
            listed += [
                Member(user_id=u, role=i.role, status="invited")
                for u, i in roster.invitations.items()
                if u not in roster.members
            ]
        return sorted(listed, key=lambda m: m.user_id)

    async def put_member(
        self, subject: Subject, enterprise_id: str, user_id: str, role: Role
    ) -> Member:
        """An active member's role changes (status active); anyone else is invited (status
        invited): nobody becomes a member, or gets a role, without accepting."""
        enterprise = await self.load(subject, enterprise_id, "enterprise.members.update")
        roster = await self._enterprises.roster(enterprise_id)
        current = _member_resource(enterprise, roster, user_id)
        status: MemberStatus = "active" if current.status == "active" else "invited"
        action = "enterprise.members.update" if status == "active" else "enterprise.members.invite"
        await self._authorizer.require(
            action,
            _as_of(subject, enterprise_id, roster.members),
            current,
            msgspec.structs.replace(current, role=role, status=status, exists=True),
            what=f"enterprise {enterprise_id}",
            counts=inputs.Counts(enterprise_seats=len(roster.members) + len(roster.invitations)),
        )
        # The policy decided on this roster; the store refuses the write (409) if it changed
        # meanwhile, so two concurrent demotions cannot remove the last owner.
        if status == "active":
            await self._enterprises.set_member(
                enterprise_id, user_id, role, expected_version=roster.version
            )
        else:
            invitation = Invitation(
                enterprise_id=enterprise_id,
                user_id=user_id,
                role=role,
                invited_by=subject.id,
                created_at=datetime.now(UTC),
            )
            await self._enterprises.invite(invitation, expected_version=roster.version)
        return Member(user_id=user_id, role=role, status=status)

    async def remove_member(self, subject: Subject, enterprise_id: str, user_id: str) -> None:
        """Removes an active member (or the caller leaves), or revokes an invitation."""
        enterprise = await self.load(subject, enterprise_id, "enterprise.members.remove")
        roster = await self._enterprises.roster(enterprise_id)
        current = _member_resource(enterprise, roster, user_id)
        invited = current.status == "invited"
        action = "enterprise.invitations.revoke" if invited else "enterprise.members.remove"
        await self._authorizer.require(
            action,
            _as_of(subject, enterprise_id, roster.members),
            current,
            what=f"enterprise {enterprise_id}",
        )
        if current.status is None:
            raise NotFound(f"{user_id} is neither a member of nor invited to {enterprise_id}")
        if invited:
            await self._enterprises.revoke(enterprise_id, user_id, expected_version=roster.version)
        else:
            await self._enterprises.set_member(
                enterprise_id, user_id, None, expected_version=roster.version
            )

    # --- the invitee ------------------------------------------------------------------------

    async def my_invitations(self, subject: Subject) -> list[PendingInvitation]:
        await self._authorizer.require(
            "invitation.list",
            subject,
            inputs.InvitationResource(user_id=subject.id),
            what="invitations",
        )
        pending = await self._enterprises.invitations_of(subject.id)
        names = await self._enterprises.get_many(list(pending))
        return [
            PendingInvitation(
                enterprise_id=ent,
                enterprise_name=names[ent].name,
                role=invitation.role,
                invited_by=invitation.invited_by,
                created_at=invitation.created_at,
            )
            for ent, invitation in sorted(pending.items())
            if ent in names
        ]

    async def _invitation(
        self, subject: Subject, enterprise_id: str, action: str
    ) -> inputs.InvitationResource:
        """The caller's invitation to the enterprise, authorized for `action`, or a 404."""
        enterprise = await self._enterprises.get(enterprise_id)
        roster = await self._enterprises.roster(enterprise_id) if enterprise else None
        invitation = roster.invitations.get(subject.id) if roster else None
        if enterprise is None or invitation is None:
            await self._authorizer.missing(
                action,
                subject,
                inputs.InvitationResource(
                    exists=False, enterprise_id=enterprise_id, user_id=subject.id
                ),
                what=f"invitation to {enterprise_id}",
            )
        resource = inputs.invitation(invitation, enterprise)
        decision = await self._authorizer.decide(action, subject, resource)
        apply(decision, action, f"invitation to {enterprise_id}")
        return resource

    async def accept(self, subject: Subject, enterprise_id: str) -> Member:
        await self._invitation(subject, enterprise_id, "invitation.accept")
        role = await self._enterprises.accept(enterprise_id, subject.id)
        return Member(user_id=subject.id, role=role, status="active")

    async def decline(self, subject: Subject, enterprise_id: str) -> None:
        await self._invitation(subject, enterprise_id, "invitation.decline")
        await self._enterprises.decline(enterprise_id, subject.id)
