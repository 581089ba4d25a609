"""Which policy runs: the engine's revision (on OPA, the bundle revision OPA reports it
activated) and the last change it refused, and, where the gateway serves bundles to OPA, the
bundle it serves and the last change it refused to pack. Who may read it is the policy's
(`policy.read` on a `policy` resource): refused changes quote the Rego."""

from __future__ import annotations

import msgspec

from gateway.domain.subjects import Subject
from gateway.policy.bundle_source import BundleSource
from gateway.policy.decider import Authorizer
from gateway.policy.engine import PolicyEngine, PolicyStatus
from gateway.policy.inputs import PolicyRevisionResource


class BundleServed(msgspec.Struct, kw_only=True, frozen=True):
    """The bundle GET /v1/policy/bundle serves now."""

    revision: str
    signed: bool
    loaded_at: str
    last_rejected: dict[str, str | None] | None = None


class PolicyReport(msgspec.Struct, kw_only=True, frozen=True):
    engine: str  # embedded | opa
    policy: PolicyStatus  # what answers decisions (on OPA: what OPA says it runs)
    bundle: BundleServed | None = None  # None: this gateway serves no bundle


def bundle_served(source: BundleSource | None) -> BundleServed | None:
    if source is None:
        return None
    status = source.status()
    rejected = status.last_rejected
    return BundleServed(
        revision=status.revision,
        signed=source.current.signed,
        loaded_at=status.loaded_at,
        last_rejected=msgspec.structs.asdict(rejected) if rejected else None,
    )


class PolicyStatusService:
    def __init__(
        self, authorizer: Authorizer, engine: PolicyEngine, bundles: BundleSource | None
    ) -> None:
        self._authorizer = authorizer
        self._engine = engine
        self._bundles = bundles

    async def report(self, subject: Subject) -> PolicyReport:
        await self._authorizer.require(
            "policy.read",
            subject,
            PolicyRevisionResource(id=self._engine.revision),
            what="policy status",
        )
        return PolicyReport(
            engine=self._engine.name,
            policy=self._engine.status(),
            bundle=bundle_served(self._bundles),
        )
