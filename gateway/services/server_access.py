"""What the two server services share: load a server by id (a missing one is still decided,
then 404), decide an action on it, and patch or delete it through `CredentialRecords` — the
personal/merged-view service and the enterprise approved-list service differ only in their
store, their resource type and their action names."""

from __future__ import annotations

import asyncio
import contextlib
import random
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Generic, TypeVar

import msgspec

from gateway.domain.servers import AnyServer, ServerPatch, patched
from gateway.domain.subjects import Subject
from gateway.domain.targets import GLOBAL_ONLY, UpstreamReach, check_target
from gateway.domain.versions import IfMatch, etag_of, failed, version_held
from gateway.errors import Conflict, InvalidInput
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.services.secret_records import CredentialRecords

S = TypeVar("S", bound=AnyServer)

# Reads, decisions and compare-and-sets a PATCH gets before a concurrent writer wins (409).
_PATCH_ATTEMPTS = 8


def now() -> datetime:
    return datetime.now(UTC)


class ServerAccess(Generic[S]):
    actions: str  # the action prefix: "mcp_server" or "enterprise_server"
    noun: str  # how a 404 names it: "MCP server"
    missing_kind: type[inputs.Resource]

    def __init__(
        self,
        authorizer: Authorizer,
        records: CredentialRecords,
        *,
        upstream_reach: UpstreamReach = GLOBAL_ONLY,
    ) -> None:
        self._authorizer = authorizer
        self._records = records
        self._upstream_reach = upstream_reach
        # One PATCH of a server at a time in this process: concurrent patches queue here
        # instead of losing compare-and-sets to each other; the retries below are only for
        # writers in other processes.
        self._patching: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def find(self, server_id: str) -> S | None:
        raise NotImplementedError

    def resource(self, server: S, listing: inputs.ListingFacts | None = None) -> inputs.Resource:
        raise NotImplementedError

    async def listing_of(self, subject: Subject, server: S) -> inputs.ListingFacts | None:
        """The listing facts a proposed server carries (for restricted installs)."""
        return None

    def check_target(self, server: S) -> None:
        """An HTTP transport's URL must not name an internal address (domain/targets.py)."""
        check_target(server.url, self._upstream_reach)

    def what(self, server_id: str) -> str:
        return f"{self.noun} {server_id}"

    async def load(self, subject: Subject, server_id: str, action: str) -> S:
        """The server, or a decided and logged 404."""
        server = await self.find(server_id)
        if server is None:
            await self._authorizer.missing(
                action,
                subject,
                inputs.missing(self.missing_kind, server_id),
                what=self.what(server_id),
            )
        return server

    async def authorized(
        self,
        subject: Subject,
        server_id: str,
        action: str,
        *,
        env_vars: Sequence[str] | None = None,
    ) -> S:
        server = await self.load(subject, server_id, action)
        await self._authorizer.require(
            action, subject, self.resource(server), what=self.what(server_id), env_vars=env_vars
        )
        return server

    async def get(self, subject: Subject, server_id: str) -> S:
        return await self.authorized(subject, server_id, f"{self.actions}.read")

    async def update(
        self,
        subject: Subject,
        server_id: str,
        patch: ServerPatch,
        *,
        if_match: IfMatch | None = None,
    ) -> S:
        """Decided on the server as it is and as the patch would leave it. A PATCH without
        If-Match names fields, not a version: when another write lands between the read and
        the compare-and-set, the patch is read, decided and applied again on the newer server
        (a few times), instead of a 409 the client could do nothing but repeat. With an
        If-Match naming versions the client asked for that version only: one attempt, and a
        version that moved is a 412."""
        lock = self._patching.setdefault(server_id, asyncio.Lock())
        async with lock:
            if if_match is not None and if_match.pinned:
                with version_held(if_match, self.what(server_id)):
                    return await self._update_once(subject, server_id, patch, if_match)
            return await self._update_retrying(subject, server_id, patch)

    async def _update_retrying(self, subject: Subject, server_id: str, patch: ServerPatch) -> S:
        for attempt in range(1, _PATCH_ATTEMPTS):
            with contextlib.suppress(Conflict):
                return await self._update_once(subject, server_id, patch)
            # Jittered: writers that collided do not collide again in lockstep.
            await asyncio.sleep(random.uniform(0, 0.002 * attempt))
        return await self._update_once(subject, server_id, patch)

    async def _update_once(
        self, subject: Subject, server_id: str, patch: ServerPatch, if_match: IfMatch | None = None
    ) -> S:
        action, what = f"{self.actions}.update", self.what(server_id)
        server = await self.load(subject, server_id, action)
        if if_match is not None and not if_match.matches(etag_of(server)):
            # Decided first: a 412 must not tell what a 404 or a 403 hides (RFC 9110 §13.2.2
            # evaluates preconditions after those, and before the body is applied).
            await self._authorizer.require(action, subject, self.resource(server), what=what)
            raise failed(what)
        try:
            updated: S = patched(server, patch)  # type: ignore[assignment]
            self.check_target(updated)
        except InvalidInput:
            # Decided first: a 400 must not tell what a 404 hides.
            await self._authorizer.require(action, subject, self.resource(server), what=what)
            raise
        updated.updated_at = now()
        proposed = self.resource(updated, await self.listing_of(subject, updated))
        await self._authorizer.require(action, subject, self.resource(server), proposed, what=what)
        await self._records.save_patch(server, updated)
        return updated

    async def delete(
        self, subject: Subject, server_id: str, *, if_match: IfMatch | None = None
    ) -> S:
        server = await self.authorized(subject, server_id, f"{self.actions}.delete")
        if if_match is not None:
            what = self.what(server_id)
            if_match.check(server, what)
            if if_match.pinned:
                # Claim the matched version with one compare-and-set before anything goes:
                # the delete below re-reads and retries once begun, so it must begin only
                # from the version the client named.
                claimed = msgspec.structs.replace(server, updated_at=now())
                with version_held(if_match, what):
                    await self._records.write(server, claimed)
                server = claimed
        await self._records.delete_server(server)
        return server
