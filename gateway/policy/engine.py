"""The engine interface both engines implement, and the entrypoints the gateway queries."""

from __future__ import annotations

from typing import Any, Final, Protocol

AUTHZ_DECISION: Final = "gateway/authz/decision"
SCOPE_VIEW: Final = "gateway/scope/view"
ACCOUNTS_PROVISION: Final = "gateway/accounts/provision"
MARKETPLACE_LISTINGS: Final = "gateway/marketplace/listings"
ENTRYPOINTS: Final = (AUTHZ_DECISION, SCOPE_VIEW, ACCOUNTS_PROVISION, MARKETPLACE_LISTINGS)


class Undefined:
    """The policy produced no value: the caller treats it as a deny."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = Undefined()


class PolicyEngine(Protocol):
    """Evaluates an entrypoint on an input. Raises BackendUnavailable when the engine itself
    fails (error, timeout); returns UNDEFINED when the policy has no value."""

    @property
    def revision(self) -> str:
        """Identifies the loaded policy: part of every decision record and view-cache key."""

    @property
    def name(self) -> str: ...

    async def evaluate(self, entrypoint: str, input_json: bytes) -> Any: ...

    async def check(self) -> None: ...

    async def aclose(self) -> None: ...
