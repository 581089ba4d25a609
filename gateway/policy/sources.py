"""Reads a policy directory the way OPA reads a bundle: every `.rego` module, every
`data.json` placed at the path of its directory (policies/gateway/data.json -> data.gateway),
and the `.manifest` whose `roots` say which parts of `data` the directory owns.

The manifest is required for serving: a directory pointed a level too deep (or anywhere
that is not a policy bundle's root) has none, and is refused instead of serving a policy
whose `data` sits at the wrong path and so silently denies or allows.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import msgspec

from gateway.policy.rego_refs import references

MANIFEST = ".manifest"
PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)


class PolicyLoadError(Exception):
    """A policy directory that cannot serve; the message names the file (and line)."""

    def __init__(self, message: str, *, revision: str | None = None) -> None:
        super().__init__(message)
        self.revision = revision


class Manifest(msgspec.Struct, kw_only=True, frozen=True):
    """OPA's bundle manifest: the data paths this directory owns (`gateway`, `system`)."""

    revision: str = ""
    roots: list[str] = msgspec.field(default_factory=lambda: [""])


class PolicySources(msgspec.Struct, kw_only=True, frozen=True):
    modules: dict[str, str]  # path relative to the root -> Rego source
    data: dict[str, Any]  # the merged base document
    # Each data.json as read, by its directory (`gateway`, `system/log`; "" at the root).
    data_files: dict[str, Any] = msgspec.field(default_factory=dict)
    # A hash of what every file read means: a module's text; a data.json's value and the
    # manifest's roots in one canonical JSON (so the bundle built from these files, whose
    # JSON is re-encoded, loads back with the same revision: gateway/policy/bundle.py).
    revision: str
    manifest: Manifest | None = None


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


def _under_roots(path: str, roots: list[str]) -> bool:
    """Is the data path `a/b/c` inside one of the manifest's roots (OPA's rule)?"""
    return any(root == "" or path == root or path.startswith(root + "/") for root in roots)


def _read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        raise PolicyLoadError(
            f"{root}: no {MANIFEST} here, so this is not a policy bundle's root (is "
            "GATEWAY_POLICY_DIR pointed a level too deep? it names the folder holding "
            f"{MANIFEST}, e.g. the repo's policies/)"
        )
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PolicyLoadError(f"{path}: {exc}") from exc


_canonical = msgspec.json.Encoder(order="sorted").encode


def _meaning(path: Path, raw: bytes, manifest: Manifest | None) -> bytes:
    """What of a file the revision hashes (see PolicySources.revision)."""
    if path.name == MANIFEST:
        return _canonical(manifest.roots if manifest else None)
    if path.name == "data.json":
        return _canonical(msgspec.json.decode(raw))  # decoded (and checked) above
    return raw


def policy_files(policy_dir: str | Path) -> list[Path]:
    """The files a load reads (sorted), hidden ones included only for the manifest."""
    root = Path(policy_dir)
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file():
            continue
        if rel.parts == (MANIFEST,) or (
            not any(p.startswith(".") for p in rel.parts)
            and (path.suffix == ".rego" or path.name == "data.json")
        ):
            found.append(path)
    return found


def signature(policy_dir: str | Path) -> tuple[tuple[str, int, int], ...]:
    """Cheap change detection for the watcher: every file's path, size and mtime."""
    out = []
    for path in policy_files(policy_dir):
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _refuse_whole_data_import(path: Path, text: str) -> None:
    """`import data` (the whole document, no alias) aborts rego-cpp 1.5's compile: the
    process dies (SIGABRT, not an error it reports), so a reload would take the gateway down
    instead of being refused. OPA accepts it; the module can import what it reads instead."""
    for ref in references(text):
        if ref.role == "import" and ref.head == "data" and not ref.path and ref.alias == "data":
            raise PolicyLoadError(
                f"{path}:{ref.line}: `import data` (the whole data document) stops the embedded "
                "engine (rego-cpp aborts compiling it): import the package this module reads, "
                "e.g. `import data.gateway.scope`"
            )


def load_policy_sources(
    policy_dir: str | Path, *, include_tests: bool = False, require_manifest: bool = True
) -> PolicySources:
    root = Path(policy_dir)
    if not root.is_dir():
        raise PolicyLoadError(f"policy directory {str(root)!r} does not exist")
    manifest = _read_manifest(root) if require_manifest or (root / MANIFEST).is_file() else None
    roots = [r.strip("/") for r in manifest.roots] if manifest else [""]
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    data_files: dict[str, Any] = {}
    digest = hashlib.sha256()
    for path in policy_files(root):
        rel = path.relative_to(root)
        raw = path.read_bytes()
        if path.suffix == ".rego":
            if path.name.endswith("_test.rego") and not include_tests:
                continue
            try:
                text = raw.decode()
            except UnicodeDecodeError as exc:
                raise PolicyLoadError(f"{path}: not UTF-8 (byte {exc.start})") from exc
            package = PACKAGE.search(text)
            if package is None:
                raise PolicyLoadError(f"{path}:1: no package declaration")
            if not _under_roots(package.group(1).replace(".", "/"), roots):
                raise PolicyLoadError(
                    f"{path}:{text[: package.start()].count(chr(10)) + 1}: package "
                    f"{package.group(1)} is outside the manifest's roots {roots}"
                )
            _refuse_whole_data_import(path, text)
            modules[str(rel)] = text
        elif path.name == "data.json":
            try:
                value = msgspec.json.decode(raw)
            except msgspec.DecodeError as exc:
                raise PolicyLoadError(f"{path}: {exc}") from exc
            if isinstance(value, dict):
                for key in value:
                    where = "/".join((*rel.parent.parts, key))
                    if not _under_roots(where, roots):
                        raise PolicyLoadError(
                            f"{path}: data at {where!r} is outside the manifest's roots {roots}"
                        )
            _place(data, rel.parent.parts, value, path)
            data_files["/".join(rel.parent.parts)] = value
        digest.update(str(rel).encode() + b"\0" + _meaning(path, raw, manifest) + b"\0")
    if not modules:
        raise PolicyLoadError(f"policy directory {str(root)!r} holds no .rego module")
    revision = digest.hexdigest()[:16]
    return PolicySources(
        modules=modules, data=data, data_files=data_files, revision=revision, manifest=manifest
    )
