"""Who is asking: a bearer token verified into claims, then the policy's `subject` —
memberships from the enterprise store, and a personal enterprise provisioned when the
policy (`data.gateway.accounts.provision`, a decided and logged step) says so."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from gateway.auth.claims import Claims
from gateway.auth.tokens import TokenVerifier
from gateway.config import Settings
from gateway.domain.enterprises import Enterprise
from gateway.domain.ids import ENTERPRISE_PREFIX, new_id
from gateway.domain.subjects import LOCAL_DEV_SUBJECT, Membership, Subject
from gateway.errors import InsufficientScope, Unauthenticated
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
        subject = self._subject(claims, await self.memberships(claims.sub))
        has_personal = any(m.kind == "personal" for m in subject.memberships.values())
        if has_personal or not await self._authorizer.needs_personal_enterprise(subject):
            return subject
        # First request of a personal-mail user: exactly one personal enterprise, even when
        # many first requests race (the store decides the winner atomically).
        await self._enterprises.ensure_personal(
            claims.sub,
            Enterprise(
                id=new_id(ENTERPRISE_PREFIX),
                name=f"{claims.email or claims.sub} (personal)",
                kind="personal",
                created_at=datetime.now(UTC),
            ),
        )
        return self._subject(claims, await self.memberships(claims.sub))

    @staticmethod
    def _subject(claims: Claims, memberships: dict[str, Membership]) -> Subject:
        return Subject(
            id=claims.sub,
            email=claims.email,
            name=claims.name,
            kind=claims.kind,
            roles=claims.roles,
            claims=claims.extra,
            memberships=memberships,
        )


class Audiences(msgspec.Struct, kw_only=True, frozen=True):
    """Which tokens each protected resource takes (RFC 8707 audience binding): on /mcp, one
    whose `aud` names the MCP resource's canonical URI or a configured audience, always, and
    with the configured scopes; on /v1, one naming the configured audience or the MCP
    resource when an audience is configured (unchecked otherwise, as before)."""

    mcp: frozenset[str]
    api: frozenset[str] | None
    mcp_scopes: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Audiences:
        configured = {settings.jwt_audience} if settings.jwt_audience else set()
        resource = settings.mcp_resource
        return cls(
            mcp=frozenset({resource, *configured}),
            api=frozenset({resource, *configured}) if configured else None,
            mcp_scopes=settings.mcp_scopes,
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
        audiences: Audiences | None = None,
    ) -> None:
        self._verifier = verifier
        self.resolver = resolver
        self._rate_limiter = rate_limiter
        self._audiences = audiences or Audiences(mcp=frozenset(), api=None)

    async def authenticate(self, authorization: str | None, *, mcp: bool = False) -> Subject:
        """`mcp`: for the MCP resource (its audience, its scopes), else for the API."""
        if self._verifier is None:
            return LOCAL_DEV_SUBJECT  # one shared local-dev subject: nothing to count per caller
        scheme, _sep, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("missing bearer token", token_sent=False)
        wanted = self._audiences
        # Counted only once the token is verified: nobody spends another subject's budget.
        claims = await self._verifier.verify(
            token.strip(), audiences=wanted.mcp if mcp else wanted.api
        )
        missing = [s for s in wanted.mcp_scopes if s not in claims.scopes] if mcp else []
        if missing:
            raise InsufficientScope(
                f"the token lacks the scopes {', '.join(missing)}", scopes=wanted.mcp_scopes
            )
        await self._count(claims.sub)
        return await self.resolver.resolve(claims)

    async def _count(self, subject_id: str) -> None:
        if self._rate_limiter is not None:
            await self._rate_limiter.hit(subject_id)
