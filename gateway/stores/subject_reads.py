"""`SubjectReads` from a rate limiter and an enterprise store, one after the other: memory
stores, and Redis Cluster (whose slots one script cannot span: gateway/stores/redis/
subject_reads.py does it in one round trip on a single Redis)."""

from __future__ import annotations

from gateway.domain.enterprises import Enterprise
from gateway.domain.subjects import Role
from gateway.stores.base import EnterpriseStore
from gateway.stores.rate_limits import RateLimiter


class CountThenRead:
    def __init__(self, rate_limiter: RateLimiter | None, enterprises: EnterpriseStore) -> None:
        self._rate_limiter = rate_limiter
        self._enterprises = enterprises

    async def read(self, user_id: str) -> dict[str, tuple[Role, Enterprise]]:
        if self._rate_limiter is not None:
            await self._rate_limiter.hit(user_id)
        return await self._enterprises.memberships_with_records(user_id)
