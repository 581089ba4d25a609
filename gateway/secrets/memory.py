"""In-process secret store: the embedded default and the reference for the contract tests.

It keys secrets by the same paths the Vault adapter uses, so validation and namespace
isolation behave identically; nothing survives a restart.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from gateway.secrets.base import (
    SecretOwner,
    SecretValue,
    validate_env_var,
    validate_values,
)


class MemorySecretStore:
    """Dict-backed ``SecretStore``; values are held as ``SecretValue`` so reprs stay clean."""

    def __init__(self) -> None:
        self._data: dict[str, SecretValue] = {}
        self._marked: dict[str, tuple[SecretOwner, float]] = {}  # server id -> (owner, when)

    def __repr__(self) -> str:
        return f"MemorySecretStore(secrets={len(self._data)})"

    async def put_many(self, owner: SecretOwner, values: Mapping[str, str]) -> None:
        validate_values(values)
        paths = {owner.secret_path(name): value for name, value in values.items()}
        for path, value in paths.items():
            self._data[path] = SecretValue(value)

    async def delete(self, owner: SecretOwner, env_var: str) -> None:
        self._data.pop(owner.secret_path(env_var), None)

    async def delete_all(self, owner: SecretOwner) -> None:
        prefix = owner.server_prefix()
        for path in [p for p in self._data if p.startswith(prefix)]:
            del self._data[path]

    async def get_many(self, owner: SecretOwner, env_vars: Sequence[str]) -> dict[str, str]:
        for name in env_vars:
            validate_env_var(name)
        found: dict[str, str] = {}
        for name in env_vars:
            held = self._data.get(owner.secret_path(name))
            if held is not None:
                found[name] = held.reveal()
        return found

    async def list_names(self, owner: SecretOwner) -> list[str]:
        prefix = owner.server_prefix()
        return sorted(
            rest
            for path in self._data
            if path.startswith(prefix) and "/" not in (rest := path[len(prefix) :])
        )

    async def mark_for_deletion(self, owner: SecretOwner) -> None:
        self._marked[owner.server_id] = (owner, time.monotonic())

    async def marked_for_deletion(self, older_than_seconds: float) -> list[SecretOwner]:
        cutoff = time.monotonic() - older_than_seconds
        return [owner for owner, when in self._marked.values() if when <= cutoff]

    async def unmark(self, owner: SecretOwner) -> None:
        self._marked.pop(owner.server_id, None)

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
