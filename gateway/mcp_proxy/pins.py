"""What the policy hears about a tool's pin (docs/adr/0057-tool-integrity.md): the pinned
fingerprint (null on first sight), the one the upstream serves now, and which fields differ.

Python records facts here and decides nothing: a tool seen for the first time is pinned as
it is (trust on first use), a definition that differs from its pin is noted on the pin for
an approver to read. Whether a changed tool may still be listed or called is the policy's
answer (`tool_changed` in policies/gateway/authz/tool_pins.rego). One batched read of the
pins per list or call; writes only when a tool is new or its definition moved."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from mcp import types

from gateway.domain.servers import AnyServer
from gateway.domain.tool_pins import ToolDefinition, ToolPin
from gateway.mcp_proxy.fingerprints import definition
from gateway.stores.tool_pins import ToolPinStore


class PinFacts(msgspec.Struct, kw_only=True, frozen=True):
    """A tool's pin as `tool.call`'s input carries it (gateway/policy/inputs.py ToolFacts)."""

    pinned: str | None
    fingerprint: str
    changed: list[str]
    pinned_by: str | None


async def pin_facts(
    store: ToolPinStore, tools: Sequence[tuple[AnyServer, types.Tool]]
) -> list[PinFacts]:
    """For each (server, tool), in order, its pin facts; new tools pinned, changes noted."""
    seen = [definition(tool) for _, tool in tools]
    wanted: dict[str, list[str]] = {}
    for server, tool in tools:
        wanted.setdefault(server.id, []).append(tool.name)
    pins = await store.read(wanted)
    now = datetime.now(UTC)
    first: dict[str, dict[str, ToolPin]] = {}
    for (server, tool), current in zip(tools, seen, strict=True):
        if tool.name not in pins[server.id]:
            first.setdefault(server.id, {})[tool.name] = ToolPin(
                tool=tool.name, pinned=current, pinned_at=now
            )
    stored = await asyncio.gather(
        *(store.pin_new(sid, list(new.values())) for sid, new in first.items())
    )
    for sid, pinned in zip(first, stored, strict=True):
        pins[sid].update(pinned)
    facts: list[PinFacts] = []
    notes: dict[tuple[str, str], tuple[ToolPin, ToolPin]] = {}
    for (server, tool), current in zip(tools, seen, strict=True):
        pin = pins[server.id][tool.name]
        ours = first.get(server.id, {}).get(tool.name) == pin
        facts.append(_facts(pin, current, first_sight=ours))
        noted = _noted(pin, current, now)
        if noted is not None:
            notes[(server.id, tool.name)] = (pin, noted)
    # A change is noted once (a lost race means another replica noted it, or an approval
    # came first: the next list sees the newer pin).
    await asyncio.gather(*(store.replace(sid, old, new) for (sid, _), (old, new) in notes.items()))
    return facts


def _facts(pin: ToolPin, current: ToolDefinition, *, first_sight: bool) -> PinFacts:
    return PinFacts(
        pinned=None if first_sight else pin.pinned.fingerprint,
        fingerprint=current.fingerprint,
        changed=current.changed_fields(pin.pinned),
        pinned_by=pin.pinned_by,
    )


def _noted(pin: ToolPin, current: ToolDefinition, now: datetime) -> ToolPin | None:
    """The pin with what the upstream serves now noted as its change (or a change cleared
    when the upstream went back to the pinned definition); None when nothing moved."""
    if current.fingerprint == pin.pinned.fingerprint:
        if pin.changed is None:
            return None
        return msgspec.structs.replace(pin, changed=None, changed_at=None)
    if pin.changed is not None and pin.changed.fingerprint == current.fingerprint:
        return None
    return msgspec.structs.replace(pin, changed=current, changed_at=now)
