"""The bundle this gateway serves its OPA sidecars (`GET /v1/policy/bundle`): built from the
policy directory at startup and again whenever the directory changes, and replaced only by a
directory that passes every check a reload runs and its Rego tests. A change that fails
them is never packed, so OPA never sees it: the last good bundle keeps being served, the
refusal is in `/readyz` and `/v1/policy/status` (`last_rejected`, cleared by the next good
change) and counted in `gateway_policy_rejected_reloads_total{engine="bundle"}`.

Building (compile, tests, packing) runs in a worker thread: ~2 s of CPU on the shipped
policies, once per change, never on a request.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gateway.observability.metrics import count_rejected_reload
from gateway.policy.bundle import BundleSigner, PolicyBundle, build_bundle, checked_sources
from gateway.policy.engine import PolicyStatus, Rejection, now_iso
from gateway.policy.sources import PolicyLoadError
from gateway.policy.watch import PolicyWatcher

log = logging.getLogger(__name__)


def _build(policy_dir: Path, signer: BundleSigner | None) -> PolicyBundle:
    return build_bundle(checked_sources(policy_dir), signer)


class BundleSource:
    def __init__(
        self, policy_dir: str | Path, signer: BundleSigner | None, *, poll_seconds: float
    ) -> None:
        self._dir = Path(policy_dir)
        self._signer = signer
        # Startup: a directory that fails the checks is a startup error, as on the embedded
        # engine (there is no good bundle to serve yet).
        self.current = _build(self._dir, signer)
        self._loaded_at = now_iso()
        self._rejected: Rejection | None = None
        self._lock = asyncio.Lock()
        self._watcher = PolicyWatcher(self._dir, self.rebuild, interval_seconds=poll_seconds)
        log.info(
            "serving policy bundle revision %s (%s) from %s",
            self.current.revision,
            "signed" if self.current.signed else "unsigned",
            self._dir,
        )

    def start(self) -> None:
        self._watcher.start(sighup=False)  # the engine's watcher, if any, owns SIGHUP

    def status(self) -> PolicyStatus:
        return PolicyStatus(
            revision=self.current.revision, loaded_at=self._loaded_at, last_rejected=self._rejected
        )

    async def rebuild(self) -> bool:
        """Build the directory again; True when a new revision is served."""
        async with self._lock:
            try:
                bundle = await asyncio.to_thread(_build, self._dir, self._signer)
            except PolicyLoadError as exc:
                self._rejected = Rejection(error=str(exc), at=now_iso(), revision=exc.revision)
                count_rejected_reload("bundle")
                log.error(
                    "policy change not bundled, revision %s keeps being served:\n%s",
                    self.current.revision,
                    exc,
                )
                return False
            self._rejected = None
            if bundle.revision == self.current.revision:
                return False
            previous, self.current, self._loaded_at = self.current.revision, bundle, now_iso()
            log.info("policy bundle revision %s replaces %s", bundle.revision, previous)
            return True

    async def aclose(self) -> None:
        await self._watcher.stop()
