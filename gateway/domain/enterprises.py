"""Enterprises (ADR-0004's account model), their members and invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from gateway.domain.ids import READ_ONLY, DisplayName
from gateway.domain.subjects import EnterpriseKind, MemberStatus, Role

EnterpriseName = DisplayName


class Enterprise(msgspec.Struct, kw_only=True):
    id: Annotated[str, READ_ONLY]
    name: str
    kind: EnterpriseKind
    created_at: Annotated[datetime, READ_ONLY]
    # Governance beyond the ADR (marketplace): members may install only approved listings.
    restrict_installs_to_approved: bool = False


class EnterpriseWithRole(Enterprise, kw_only=True):
    role: Role | None  # None only in the unscoped local-dev mode


class EnterprisePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: EnterpriseName | msgspec.UnsetType = msgspec.UNSET
    restrict_installs_to_approved: bool | msgspec.UnsetType = msgspec.UNSET


class Member(msgspec.Struct, kw_only=True, frozen=True):
    """A row of the member list: an active member, or (for owners and admins) an invitee."""

    user_id: str
    role: Role
    status: MemberStatus = "active"


class Invitation(msgspec.Struct, kw_only=True, frozen=True):
    """Stored with the enterprise: nobody becomes a member without accepting one."""

    enterprise_id: str
    user_id: str
    role: Role
    invited_by: Annotated[str, READ_ONLY]
    created_at: Annotated[datetime, READ_ONLY]


class PendingInvitation(msgspec.Struct, kw_only=True, frozen=True):
    """An invitation as its invitee sees it (`GET /v1/invitations`)."""

    enterprise_id: str
    enterprise_name: str
    role: Role
    invited_by: Annotated[str, READ_ONLY]
    created_at: Annotated[datetime, READ_ONLY]


class EnterpriseCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: EnterpriseName
    restrict_installs_to_approved: bool = False


class MemberPut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Role
