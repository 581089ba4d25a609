"""The secrets port: where an MCP server's credentials live and how they are addressed.

Storage contract (shared with anything else reading the vault): KV v2, one secret per env
var, the value under the key ``value``, at
``mcp-servers/{user_id}/{server_id}/{ENV_VAR}`` (personal) or
``mcp-servers/enterprise/{enterprise_id}/{server_id}/{ENV_VAR}`` (enterprise).
Every path segment is validated here, before it can reach a backend, so no caller-supplied
id can traverse or escape its namespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal, Protocol, runtime_checkable

import msgspec

from gateway.domain.ids import ENTERPRISE_ID, ENV_VAR, SERVER_ID, USER_ID, matches
from gateway.errors import InvalidInput

ROOT: Final = "mcp-servers"
# USER_ID refuses this segment as a user id, so a user can never land in the enterprises'
# namespace (nor traverse with `.` or `..`).
ENTERPRISE_SEGMENT: Final = "enterprise"
VALUE_KEY: Final = "value"

OwnerKind = Literal["personal", "enterprise"]


class SecretValue:
    """Holds a secret so that printing, logging or repr-ing its holder shows only ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


def _shown(value: object) -> str:
    """A bounded rendering of a rejected id for the error message (ids are not secrets)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check(kind: str, pattern: str, value: object) -> str:
    if not matches(pattern, value):
        raise InvalidInput(f"invalid {kind}: {_shown(value)}")
    assert isinstance(value, str)
    return value


def validate_env_var(name: object) -> str:
    """Env var names become the last path segment: upper-case identifiers only."""
    return _check("env var name", ENV_VAR, name)


def validate_user_id(user_id: object) -> str:
    return _check("user id", USER_ID, user_id)


class SecretOwner(msgspec.Struct, frozen=True, kw_only=True):
    """Whose credentials for which server: the first segments of every secret path."""

    kind: OwnerKind
    owner_id: str  # user id (personal) or enterprise id (enterprise)
    server_id: str

    def __post_init__(self) -> None:
        # Fail at construction so an invalid owner never travels further than its source.
        _validate_owner(self)

    def server_prefix(self) -> str:
        return server_prefix(self)

    def secret_path(self, env_var: str) -> str:
        return secret_path(self, env_var)

    @classmethod
    def personal(cls, user_id: str, server_id: str) -> SecretOwner:
        return cls(kind="personal", owner_id=user_id, server_id=server_id)

    @classmethod
    def enterprise(cls, enterprise_id: str, server_id: str) -> SecretOwner:
        return cls(kind="enterprise", owner_id=enterprise_id, server_id=server_id)


def _validate_owner(owner: SecretOwner) -> None:
    if owner.kind == "personal":
        validate_user_id(owner.owner_id)
    elif owner.kind == "enterprise":
        _check("enterprise id", ENTERPRISE_ID, owner.owner_id)
    else:
        raise InvalidInput(f"invalid secret owner kind: {_shown(owner.kind)}")
    _check("server id", SERVER_ID, owner.server_id)


def server_prefix(owner: SecretOwner) -> str:
    """The folder holding all of one server's secrets for one owner, with a trailing ``/``."""
    _validate_owner(owner)  # again: structs can be mutated behind msgspec's back
    if owner.kind == "personal":
        return f"{ROOT}/{owner.owner_id}/{owner.server_id}/"
    return f"{ROOT}/{ENTERPRISE_SEGMENT}/{owner.owner_id}/{owner.server_id}/"


def secret_path(owner: SecretOwner, env_var: str) -> str:
    """The exact KV path of one env var's secret (relative to the KV mount)."""
    return server_prefix(owner) + validate_env_var(env_var)


def validate_values(values: Mapping[str, str]) -> None:
    """Check every name (and that values are strings) before anything is written."""
    for name, value in values.items():
        validate_env_var(name)
        if not isinstance(value, str):
            # Name the variable and the type only, never the value.
            raise InvalidInput(f"value for {name} must be a string, not {type(value).__name__}")


@runtime_checkable
class SecretStore(Protocol):
    """Credentials of MCP servers. Backend failures raise ``BackendUnavailable``."""

    async def put_many(self, owner: SecretOwner, values: Mapping[str, str]) -> None:
        """Write (create or replace) each env var's secret."""

    async def delete(self, owner: SecretOwner, env_var: str) -> None:
        """Delete one secret with all its versions; a missing secret is not an error."""

    async def delete_all(self, owner: SecretOwner) -> None:
        """Delete every secret under the server's prefix, all versions."""

    async def get_many(self, owner: SecretOwner, env_vars: Sequence[str]) -> dict[str, str]:
        """The values of those env vars that have one; absent ones are left out."""
        ...

    async def list_names(self, owner: SecretOwner) -> list[str]:
        """Sorted names of the env vars with a stored value (to reconcile credentials_set)."""
        ...

    async def mark_for_deletion(self, owner: SecretOwner) -> None:
        """Note, durably and before the server's record goes, that its secrets are to be
        deleted: an outage after the record is gone leaves the note for a finisher."""

    async def marked_for_deletion(self, older_than_seconds: float) -> list[SecretOwner]:
        """Owners whose note is older than that (younger ones may be a delete in flight)."""
        ...

    async def unmark(self, owner: SecretOwner) -> None:
        """Drop the note (the secrets are gone, or the delete never happened)."""

    async def check(self) -> None:
        """Readiness: raise ``BackendUnavailable`` when the backend cannot serve."""

    async def aclose(self) -> None:
        """Release background tasks, threads and connections."""
