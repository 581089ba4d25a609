"""The engine interface both engines implement, and the entrypoints the gateway queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, NamedTuple, Protocol

import msgspec

AUTHZ_DECISION: Final = "gateway/authz/decision"
SCOPE_VIEW: Final = "gateway/scope/view"
ACCOUNTS_PROVISION: Final = "gateway/accounts/provision"
MARKETPLACE_LISTINGS: Final = "gateway/marketplace/listings"
ENTRYPOINTS: Final = (AUTHZ_DECISION, SCOPE_VIEW, ACCOUNTS_PROVISION, MARKETPLACE_LISTINGS)
# OPA's decision-log masking rule (gateway/audit/masking.py); optional, like in OPA.
LOG_MASK: Final = "system/log/mask"


class Undefined:
    """The policy produced no value: the caller treats it as a deny."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = Undefined()


class Evaluation(NamedTuple):
    """An entrypoint's value (or UNDEFINED), the engine's own id for the decision when it
    has one (OPA's `decision_id`, so its decision log and the gateway's join), and the policy
    revision that answered when the engine knows it per decision (OPA's provenance: a bundle
    activated between two polls is still named right)."""

    result: Any
    decision_id: str | None = None
    revision: str | None = None


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Rejection(msgspec.Struct, kw_only=True, frozen=True):
    """A policy change that was refused: why (file:line: message), and when."""

    error: str
    at: str
    revision: str | None = None


class PolicyStatus(msgspec.Struct, kw_only=True, frozen=True):
    """What `/readyz` shows: the serving revision and the last rejected change."""

    revision: str
    loaded_at: str
    last_rejected: Rejection | None = None


class PolicyEngine(Protocol):
    """Evaluates an entrypoint on an input. Raises BackendUnavailable when the engine itself
    fails (error, timeout); returns UNDEFINED when the policy has no value."""

    @property
    def revision(self) -> str:
        """Identifies the loaded policy: part of every decision record and view-cache key."""

    @property
    def name(self) -> str: ...

    @property
    def memoizable(self) -> bool:
        """Whether the serving revision's decisions are a function of (revision, input
        without the request id): no clock, randomness, network or request id in the
        gateway's modules (gateway/policy/memo.py)."""

    def status(self) -> PolicyStatus: ...

    def start(self) -> None:
        """Begin background work (watching the policy for changes); needs a running loop."""

    async def reload(self) -> bool:
        """Load the policy again; True when a new revision now serves."""

    async def evaluate(self, entrypoint: str, input_json: bytes) -> Evaluation: ...

    async def check(self) -> None: ...

    async def aclose(self) -> None: ...
