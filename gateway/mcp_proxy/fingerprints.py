"""A tool's fingerprint: sha256 over the canonical JSON (msgspec, keys sorted) of the fields
a client's model reads — name, description, input and output schema, annotations — and one
sha256 per field, so a changed pin says which field changed (docs/adr/0057-tool-integrity.md).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from mcp import types

from gateway.domain.tool_pins import ToolDefinition

_canonical = msgspec.json.Encoder(order="sorted").encode


def _digest(value: Any) -> str:
    return hashlib.sha256(_canonical(value)).hexdigest()


def definition(tool: types.Tool) -> ToolDefinition:
    hints = tool.annotations
    fields: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "output_schema": tool.output_schema,
        "annotations": hints.model_dump(mode="json", by_alias=True, exclude_none=True)
        if hints
        else None,
    }
    return ToolDefinition(
        fingerprint=_digest(fields),
        fields={name: _digest(value) for name, value in fields.items()},
        definition=fields,
    )
