"""Who is asking: a bearer token verified into claims, then the policy's `subject` —
memberships from the enterprise store, and a personal enterprise provisioned when the
policy (`data.gateway.accounts.provision`, a decided and logged step) says so."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.auth.claims import Claims
from gateway.auth.tokens import TokenVerifier
from gateway.domain.enterprises import Enterprise
from gateway.domain.ids import ENTERPRISE_PREFIX, new_id
from gateway.domain.subjects import LOCAL_DEV_SUBJECT, Membership, Subject
from gateway.errors import Unauthenticated
from gateway.policy.decider import Authorizer
from gateway.stores.base import EnterpriseStore
from gateway.stores.rate_limits import RateLimiter


class SubjectResolver:
    def __init__(self, authorizer: Authorizer, enterprises: EnterpriseStore) -> None:
        self._authorizer = authorizer
        self._enterprises = enterprises

    async def memberships(self, user_id: str) -> dict[str, Membership]:
        found = await self._enterprises.memberships_with_records(user_id)
        return {
            ent: Membership(
                role=granted,
                kind=record.kind,
                restrict_installs_to_approved=record.restrict_installs_to_approved,
            )
            for ent, (granted, record) in found.items()
        }

    async def resolve(self, claims: Claims) -> Subject:
        subject = Subject(
            id=claims.sub,
            email=claims.email,
            name=claims.name,
            roles=claims.roles,
            memberships=await self.memberships(claims.sub),
        )
        has_personal = any(m.kind == "personal" for m in subject.memberships.values())
        if has_personal or not await self._authorizer.needs_personal_enterprise(subject):
            return subject
        # First request of a personal-mail user: exactly one personal enterprise, even when
        # many first requests race (the store decides the winner atomically).
        await self._enterprises.ensure_personal(
            claims.sub,
            Enterprise(
                id=new_id(ENTERPRISE_PREFIX),
                name=f"{claims.email} (personal)",
                kind="personal",
                created_at=datetime.now(UTC),
            ),
        )
        return Subject(
            id=claims.sub,
            email=claims.email,
            name=claims.name,
            roles=claims.roles,
            memberships=await self.memberships(claims.sub),
        )


class Authenticator:
    """`Authorization` header -> Subject, for HTTP and the MCP proxy alike. Without a
    verifier (GATEWAY_AUTH_ENABLED=false, the ADR's local-dev mode) everyone is the
    unscoped local-dev subject."""

    def __init__(
        self,
        verifier: TokenVerifier | None,
        resolver: SubjectResolver,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._verifier = verifier
        self.resolver = resolver
        self._rate_limiter = rate_limiter

    async def authenticate(self, authorization: str | None) -> Subject:
        if self._verifier is None:
            return LOCAL_DEV_SUBJECT  # one shared local-dev subject: nothing to count per caller
        scheme, _sep, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("missing bearer token")
        # Counted only once the token is verified: nobody spends another subject's budget.
        claims = await self._verifier.verify(token.strip())
        await self._count(claims.sub)
        return await self.resolver.resolve(claims)

    async def _count(self, subject_id: str) -> None:
        if self._rate_limiter is not None:
            await self._rate_limiter.hit(subject_id)
