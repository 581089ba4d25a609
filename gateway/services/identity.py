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
from gateway.stores.base import EnterpriseStore, SubjectReads
from gateway.stores.subject_reads import CountThenRead


class SubjectResolver:
    """`reads`: the request's first read of its subject, which also counts it against the
    rate limit (one round trip on a single Redis); without one, memberships are read from
    the enterprise store and nothing is counted."""

    def __init__(
        self,
        authorizer: Authorizer,
        enterprises: EnterpriseStore,
        reads: SubjectReads | None = None,
    ) -> None:
        self._authorizer = authorizer
        self._enterprises = enterprises
        self._reads = reads or CountThenRead(None, enterprises)

    async def memberships(self, user_id: str, *, counted: bool = False) -> dict[str, Membership]:
        """`counted`: this read counts the request (the first of each request)."""
        if counted:
            found = await self._reads.read(user_id)
        else:
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
        subject = self._subject(claims, await self.memberships(claims.sub, counted=True))
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
        audiences: Audiences | None = None,
    ) -> None:
        self._verifier = verifier
        self.resolver = resolver
        self._audiences = audiences or Audiences(mcp=frozenset(), api=None)

    async def authenticate(self, authorization: str | None, *, mcp: bool = False) -> Subject:
        """`mcp`: for the MCP resource (its audience, its scopes), else for the API."""
        if self._verifier is None:
            return LOCAL_DEV_SUBJECT  # one shared local-dev subject: nothing to count per caller
        scheme, _sep, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("missing bearer token", token_sent=False)
        wanted = self._audiences
        claims = await self._verifier.verify(
            token.strip(), audiences=wanted.mcp if mcp else wanted.api
        )
        missing = [s for s in wanted.mcp_scopes if s not in claims.scopes] if mcp else []
        if missing:
            raise InsufficientScope(
                f"the token lacks the scopes {', '.join(missing)}", scopes=wanted.mcp_scopes
            )
        # Counted by the resolver's first read: only once the token is verified, so nobody
        # spends another subject's budget.
        return await self.resolver.resolve(claims)
