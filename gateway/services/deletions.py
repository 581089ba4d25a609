"""Deleting an enterprise takes several writes across Redis and Vault, so it is resumable.

`EnterpriseStore.begin_delete` hides the enterprise at once (no member sees it, its servers
leave every merged view) and records the intent; `finish` then removes every server with
its secrets (`CredentialRecords.delete_server`, secrets before the record) and finally the
enterprise's own keys. A crash or an outage midway leaves the intent: `resume_pending`, run
at startup and then periodically by every replica, finishes what is older than a grace
period — unless the enterprise is still live: then `begin_delete` never ran (the request
failed with a 503), and a failed delete must not come true a minute later. Each step is
idempotent, so two replicas finishing the same deletion is harmless. The same loop finishes
server deletions whose secrets an outage left behind (`CredentialRecords.resume_pending`).
See docs/storage.md and docs/adr/0041-never-half-written.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.errors import BackendUnavailable, NotFound
from gateway.services.secret_records import CredentialRecords
from gateway.stores.base import EnterpriseMCPServerFilter, EnterpriseMCPServerStore, EnterpriseStore

log = logging.getLogger(__name__)

# A deletion younger than this may still be running in the request that began it.
GRACE_SECONDS = 30.0
INTERVAL_SECONDS = 60.0


class EnterpriseDeletions:
    def __init__(
        self,
        enterprises: EnterpriseStore,
        servers: EnterpriseMCPServerStore,
        records: CredentialRecords,
    ) -> None:
        self._enterprises = enterprises
        self._servers = servers
        self._records = records

    async def finish(self, enterprise_id: str) -> None:
        """Remove every server of the enterprise with its secrets, then the enterprise."""
        for server in await self._servers.list(
            EnterpriseMCPServerFilter(enterprise_ids=[enterprise_id])
        ):
            with contextlib.suppress(NotFound):  # deleted meanwhile: fine
                await self._records.delete_server(server)
        await self._enterprises.finish_delete(enterprise_id)

    async def resume_pending(self, older_than_seconds: float = GRACE_SECONDS) -> list[str]:
        """Finish deletions a crash or an outage cut short; returns those finished."""
        finished = []
        for enterprise_id in await self._enterprises.pending_deletions(older_than_seconds):
            try:
                if await self._enterprises.get(enterprise_id) is not None:
                    continue  # live: the intent outlived a failed begin; nothing to finish
                await self.finish(enterprise_id)
            except BackendUnavailable as exc:
                log.warning("deletion of %s not finished yet: %s", enterprise_id, exc.detail)
                continue
            log.info("finished the interrupted deletion of enterprise %s", enterprise_id)
            finished.append(enterprise_id)
        return finished

    async def run(self, interval_seconds: float = INTERVAL_SECONDS) -> None:
        """Forever: resume pending deletions now, then every interval (a background task)."""
        while True:
            try:
                await self.resume_pending()
                await self._records.resume_pending(GRACE_SECONDS)
            except BackendUnavailable as exc:
                log.warning("pending deletions not checked: %s", exc.detail)
            except Exception:  # a bug must not end the loop silently
                log.exception("checking pending enterprise deletions failed")
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # redis-py turns a cancellation during connect into a connection error; the
                # shutdown that asked for it must not wait a whole interval.
                raise asyncio.CancelledError
            await asyncio.sleep(interval_seconds)
