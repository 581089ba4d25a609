"""Pinned tool definitions (docs/adr/0057-tool-integrity.md): what a server's tool looked
like when it was first seen through the gateway (trust on first use) or last approved, and
a definition the upstream served since that differs from it, awaiting approval."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from gateway.domain.ids import whole

# The fields a fingerprint covers, in the order a diff names them.
PINNED_FIELDS = ("name", "description", "input_schema", "output_schema", "annotations")

# MCP tool names (SEP-986: 1-128 of A-Z a-z 0-9 _ - . /), as a path segment.
TOOL_NAME = whole(r"[A-Za-z0-9_./-]{1,128}")
SHA256 = whole(r"[0-9a-f]{64}")


class ToolDefinition(msgspec.Struct, kw_only=True, frozen=True):
    """One definition of a tool: the sha256 of the canonical JSON of its pinned fields, one
    sha256 per field (to say which changed), and the fields themselves (for the approver)."""

    fingerprint: str
    fields: dict[str, str]
    definition: dict[str, Any]

    def changed_fields(self, other: ToolDefinition) -> list[str]:
        """The pinned fields whose digest differs from `other`'s."""
        return [f for f in PINNED_FIELDS if self.fields.get(f) != other.fields.get(f)]


class ToolPin(msgspec.Struct, kw_only=True, frozen=True):
    """A tool's pin on one server. `pinned_by` is null for a pin taken on first sight, else
    the approver's user id, with the approval's `decision_id`; `changed` is the definition the
    upstream served since, when it differs from the pinned one (refused until approved)."""

    tool: str
    pinned: ToolDefinition
    pinned_at: datetime
    pinned_by: str | None = None
    decision_id: str | None = None
    changed: ToolDefinition | None = None
    changed_at: datetime | None = None

    @property
    def changed_fields(self) -> list[str]:
        return self.changed.changed_fields(self.pinned) if self.changed is not None else []


class PinApproval(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST .../tool-pins/{tool}/approve`: the changed definition approved, named by its
    fingerprint (so an approver approves what they read, not a later change)."""

    fingerprint: Annotated[str, msgspec.Meta(pattern=SHA256, description="the changed fingerprint")]
