"""Enterprises (ADR-0004's account model) and their members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from gateway.domain.subjects import EnterpriseKind, Role


class Enterprise(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: EnterpriseKind
    created_at: datetime
    # Governance beyond the ADR (marketplace): members may install only approved listings.
    restrict_installs_to_approved: bool = False


class EnterpriseWithRole(Enterprise, kw_only=True):
    role: Role | None  # None only in the unscoped local-dev mode


class EnterprisePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    restrict_installs_to_approved: bool | msgspec.UnsetType = msgspec.UNSET


class Member(msgspec.Struct, kw_only=True, frozen=True):
    user_id: str
    role: Role


class EnterpriseCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]
    restrict_installs_to_approved: bool = False


class MemberPut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Role
