"""Reads a policy directory the way OPA does: every `.rego` module, and every `data.json`
placed at the path of its directory (policies/gateway/data.json -> data.gateway)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgspec


class PolicyLoadError(Exception):
    """A policy file could not be read or parsed; the message names the file."""


class PolicySources(msgspec.Struct, kw_only=True, frozen=True):
    modules: dict[str, str]  # path relative to the root -> Rego source
    data: dict[str, Any]  # the merged base document
    revision: str


def _place(root: dict[str, Any], path: tuple[str, ...], value: Any, origin: Path) -> None:
    node = root
    for part in path:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise PolicyLoadError(f"{origin}: data path {'/'.join(path)} collides with a value")
    if not isinstance(value, dict):
        raise PolicyLoadError(f"{origin}: a data.json must hold a JSON object")
    for key, item in value.items():
        if key in node:
            raise PolicyLoadError(f"{origin}: data key {key!r} is defined twice")
        node[key] = item


def load_policy_sources(policy_dir: str | Path, *, include_tests: bool = False) -> PolicySources:
    root = Path(policy_dir)
    if not root.is_dir():
        raise PolicyLoadError(f"policy directory {str(root)!r} does not exist")
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if path.suffix == ".rego":
            if path.name.endswith("_test.rego") and not include_tests:
                continue
            modules[str(rel)] = path.read_text()
        elif path.name == "data.json":
            try:
                _place(data, rel.parent.parts, msgspec.json.decode(path.read_bytes()), path)
            except msgspec.DecodeError as exc:
                raise PolicyLoadError(f"{path}: {exc}") from exc
        else:
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    if not modules:
        raise PolicyLoadError(f"policy directory {str(root)!r} holds no .rego module")
    return PolicySources(modules=modules, data=data, revision=digest.hexdigest()[:16])
