"""The merged view (ADR-0008): personal servers plus enterprises' auto-enabled servers,
with `data.gateway.scope.view` deciding which stores feed it."""

from __future__ import annotations

from gateway.domain.decisions import ViewScope
from gateway.domain.servers import AnyServer
from gateway.domain.subjects import Subject
from gateway.policy.decider import Authorizer
from gateway.stores.base import (
    EnterpriseMCPServerFilter,
    EnterpriseMCPServerStore,
    MCPServerFilter,
    MCPServerStore,
    ViewCache,
)
from gateway.stores.snapshots import ViewSnapshot


class MergedView:
    def __init__(
        self,
        authorizer: Authorizer,
        personal: MCPServerStore,
        enterprise: EnterpriseMCPServerStore,
        cache: ViewCache | None = None,
    ) -> None:
        self._authorizer = authorizer
        self._personal = personal
        self._enterprise = enterprise
        self._cache = cache

    async def servers(self, subject: Subject) -> list[AnyServer]:
        """Sorted by id."""
        return (await self.snapshot(subject)).items

    async def snapshot(self, subject: Subject) -> ViewSnapshot:
        """The view with what was made from it while it stays current (encoded pages)."""
        scope = await self._authorizer.view_scope(subject)

        async def compute() -> list[AnyServer]:
            return await self.compute(scope)

        if self._cache is None:
            return ViewSnapshot(await compute())
        return await self._cache.get_or_compute(subject.id, scope, compute)

    async def compute(self, scope: ViewScope) -> list[AnyServer]:
        personal: list[AnyServer] = []
        if scope.unscoped:
            personal.extend(await self._personal.list(MCPServerFilter(user_id=None)))
        for user_id in scope.user_ids:
            personal.extend(await self._personal.list(MCPServerFilter(user_id=user_id)))
        enterprise_ids = None if scope.unscoped else scope.enterprise_ids
        enterprise: list[AnyServer] = []
        if enterprise_ids is None or enterprise_ids:
            enterprise.extend(
                await self._enterprise.list(
                    EnterpriseMCPServerFilter(
                        enterprise_ids=enterprise_ids, auto_enabled_only=scope.auto_enabled_only
                    )
                )
            )
        return sorted(personal + enterprise, key=lambda s: s.id)
