"""Pinned tool definitions: the `ToolPinStore` port and its in-memory adapter (one process;
`gateway/stores/redis/tool_pins.py` shares them across replicas). A pin is written once on
first sight (never over another) and changed only by a compare-and-set on the pin read, so
two replicas that see a tool at once, or an approval racing a new change, never lose one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from gateway.domain.tool_pins import ToolPin


class ToolPinStore(Protocol):
    async def read(self, tools: Mapping[str, Sequence[str]]) -> dict[str, dict[str, ToolPin]]:
        """The pins of these tools (server id -> tool names), by server and tool name, those
        that exist: ONE round trip for all of them."""
        ...

    async def all(self, server_id: str) -> dict[str, ToolPin]:
        """Every pin of one server, by tool name."""
        ...

    async def pin_new(self, server_id: str, pins: Sequence[ToolPin]) -> dict[str, ToolPin]:
        """Store each pin whose tool has none yet; the pins stored after (another writer's
        where it came first), in one round trip."""
        ...

    async def replace(self, server_id: str, expected: ToolPin, new: ToolPin) -> bool:
        """Store `new` if the tool's pin is still `expected`; False if it moved."""
        ...


class MemoryToolPinStore:
    def __init__(self) -> None:
        self._pins: dict[str, dict[str, ToolPin]] = {}

    async def read(self, tools: Mapping[str, Sequence[str]]) -> dict[str, dict[str, ToolPin]]:
        found: dict[str, dict[str, ToolPin]] = {}
        for sid, names in tools.items():
            pins = self._pins.get(sid, {})
            found[sid] = {name: pins[name] for name in names if name in pins}
        return found

    async def all(self, server_id: str) -> dict[str, ToolPin]:
        return dict(self._pins.get(server_id, {}))

    async def pin_new(self, server_id: str, pins: Sequence[ToolPin]) -> dict[str, ToolPin]:
        stored = self._pins.setdefault(server_id, {})
        for pin in pins:
            stored.setdefault(pin.tool, pin)
        return {pin.tool: stored[pin.tool] for pin in pins}

    async def replace(self, server_id: str, expected: ToolPin, new: ToolPin) -> bool:
        stored = self._pins.setdefault(server_id, {})
        if stored.get(expected.tool) != expected:
            return False
        stored[new.tool] = new
        return True
