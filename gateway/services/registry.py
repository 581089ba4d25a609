"""The MCP Registry API (`/v0.1`, read-only) over the marketplace and the caller's view.

Three kinds of entries, each a `server.json` (gateway/marketplace/server_json.py): the catalog's
listings, the servers of the caller's merged view (as the user or the enterprise made them),
and the gateway's own `/mcp`, which serves that whole view. Which of them a caller sees is
`registry.read`, decided per entry by the policy (anonymous callers included: the shipped
policy shows them the catalog only) and logged like every decision. A listing also carries
the `marketplace.install` decision the marketplace page shows (one evaluation per page).

Per request: one merged view (cached), one store call for approvals, one `registry.read` per
entry examined (only as many as the page needs, memoized per policy revision) and at most one
install evaluation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import msgspec

from gateway import __version__
from gateway.domain.decisions import Decision, Reason
from gateway.domain.servers import AnyServer, EnterpriseMCPServer
from gateway.domain.subjects import Subject
from gateway.errors import NotFound, UnprocessableInput
from gateway.marketplace.catalog import Listing
from gateway.marketplace.server_json import (
    GATEWAY_META,
    NAMESPACE,
    OFFICIAL_META,
    SERVER_NAME,
    ServerDetail,
    server_detail,
    version_of,
)
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.policy.inputs import RegistryEntryResource
from gateway.services.listings import ListingApprovals
from gateway.services.marketplace import install_item
from gateway.services.views import MergedView

REGISTRY_READ = "registry.read"
LATEST = "latest"
DEFAULT_LIMIT = 30
MAX_LIMIT = 100
GATEWAY_NAME = f"{NAMESPACE}/gateway"
Source = Literal["catalog", "personal", "enterprise", "gateway"]
_NAME = re.compile(SERVER_NAME)


class GatewayMeta(msgspec.Struct, kw_only=True, frozen=True):
    """What the gateway adds to an entry (`_meta["io.github.mcp-policy-gateway/gateway"]`):
    where it comes from, whether the caller has it, and for a listing whether the policy would
    let the caller install it (with the policy's reasons when not)."""

    source: Source
    id: str  # the listing id, the server id, or `gateway`
    installed: bool
    enterprise_id: str | None = None
    install_allowed: bool | None = None  # listings only: the marketplace.install decision
    reasons: list[Reason] = msgspec.field(default_factory=list)
    decision_id: str


class OfficialMeta(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    """The registry-managed block every registry answers with (its fields, no others)."""

    status: Literal["active"] = "active"
    published_at: datetime
    updated_at: datetime
    is_latest: bool = True


class EntryMeta(msgspec.Struct, kw_only=True, frozen=True):
    official: OfficialMeta = msgspec.field(name=OFFICIAL_META)
    gateway: GatewayMeta = msgspec.field(name=GATEWAY_META)


class ServerResponse(msgspec.Struct, kw_only=True, frozen=True):
    """One entry: the server.json and the registry's metadata about it."""

    server: ServerDetail
    meta: EntryMeta = msgspec.field(name="_meta")


class ListMetadata(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, rename="camel"):
    """`nextCursor` is left out on the last page (the document types it a string)."""

    count: int
    next_cursor: str | None = None


class ServerList(msgspec.Struct, kw_only=True, frozen=True):
    servers: list[ServerResponse]
    metadata: ListMetadata


class RegistryQuery(msgspec.Struct, kw_only=True, frozen=True):
    search: str | None = None
    version: str | None = None
    updated_since: datetime | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class _Entry:
    detail: ServerDetail
    published_at: datetime
    updated_at: datetime
    resource: RegistryEntryResource
    installed: bool
    listing: Listing | None = None

    @property
    def name(self) -> str:
        return self.detail.name


def encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The last name served; anything the registry did not issue is refused, naming `cursor`."""
    try:
        name = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        decoded = name.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise UnprocessableInput.field("cursor", "not a cursor this registry issued") from exc
    if not _NAME.match(decoded):
        raise UnprocessableInput.field("cursor", "not a cursor this registry issued")
    return decoded


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RegistryService:
    def __init__(
        self,
        authorizer: Authorizer,
        view: MergedView,
        listings: ListingApprovals,
        *,
        mcp_url: str,
        catalog_changed: datetime,
    ) -> None:
        self._authorizer = authorizer
        self._view = view
        self._listings = listings
        self._mcp_url = mcp_url
        self._catalog_changed = _aware(catalog_changed)

    # --- the entries a caller could see ----------------------------------------------------

    def _listing_entry(
        self, listing: Listing, approvals: Mapping[str, Sequence[str]], installed: set[str]
    ) -> _Entry:
        name = f"{NAMESPACE}.catalog/{listing.id}"
        return _Entry(
            detail=server_detail(
                name=name,
                title=listing.name,
                description=listing.description,
                version=version_of(self._catalog_changed),
                transport=listing.transport,
                command=listing.command,
                args=list(listing.args),
                url=listing.url,
                headers={},
                env=list(listing.env),
                website_url=listing.homepage,
            ),
            published_at=self._catalog_changed,
            updated_at=self._catalog_changed,
            resource=RegistryEntryResource(
                id=listing.id,
                name=name,
                source="catalog",
                listing_id=listing.id,
                approved_by=list(approvals.get(listing.id, ())),
            ),
            installed=listing.id in installed,
            listing=listing,
        )

    @staticmethod
    def _server_entry(server: AnyServer) -> _Entry:
        enterprise = isinstance(server, EnterpriseMCPServer)
        source: Source = "enterprise" if enterprise else "personal"
        name = f"{NAMESPACE}.{source}/{server.id}"
        return _Entry(
            detail=server_detail(
                name=name,
                title=server.name,
                description=server.description,
                version=version_of(server.updated_at),
                transport=server.transport,
                command=server.command,
                args=list(server.args),
                url=server.url,
                headers=dict(server.headers),
                env=list(server.env),
            ),
            published_at=_aware(server.created_at),
            updated_at=_aware(server.updated_at),
            resource=RegistryEntryResource(
                id=server.id,
                name=name,
                source=source,
                listing_id=server.marketplace_listing_id,
                user_id=getattr(server, "user_id", None),
                enterprise_id=getattr(server, "enterprise_id", None),
            ),
            installed=True,
        )

    def _gateway_entry(self) -> _Entry:
        return _Entry(
            detail=server_detail(
                name=GATEWAY_NAME,
                title="MCP Policy Gateway",
                description="Every MCP server of your view, through the gateway, as policy allows",
                version=__version__,
                transport="streamable_http",
                command=None,
                args=[],
                url=self._mcp_url,
                headers={},
                env=[],
            ),
            published_at=self._catalog_changed,
            updated_at=self._catalog_changed,
            resource=RegistryEntryResource(id="gateway", name=GATEWAY_NAME, source="gateway"),
            installed=True,
        )

    async def _entries(self, subject: Subject) -> tuple[list[_Entry], Mapping[str, list[str]]]:
        """Every entry the caller could see, sorted by name (the cursor key); the policy has
        not been asked yet."""
        servers, approvals = await asyncio.gather(
            self._view.servers(subject), self._listings.approvals(subject)
        )
        installed = {s.marketplace_listing_id for s in servers if s.marketplace_listing_id}
        entries = [
            *(self._listing_entry(item, approvals, installed) for item in self._listings.catalog),
            *(self._server_entry(server) for server in servers),
            self._gateway_entry(),
        ]
        return sorted(entries, key=lambda entry: entry.name), approvals

    # --- the policy's say ------------------------------------------------------------------

    async def _shown(
        self, subject: Subject, entries: Sequence[_Entry], want: int
    ) -> list[tuple[_Entry, Decision]]:
        """The first `want` entries the policy lets the caller see, deciding no more entries
        than that takes."""
        shown: list[tuple[_Entry, Decision]] = []
        at = 0
        while len(shown) < want and at < len(entries):
            chunk = entries[at : at + want - len(shown)]
            at += len(chunk)
            decisions = await asyncio.gather(
                *(
                    self._authorizer.decide(REGISTRY_READ, subject, e.resource, purpose="list")
                    for e in chunk
                )
            )
            shown += [
                (e, d) for e, d in zip(chunk, decisions, strict=True) if d.allow and d.visible
            ]
        return shown

    async def _described(
        self,
        subject: Subject,
        shown: Sequence[tuple[_Entry, Decision]],
        approvals: Mapping[str, Sequence[str]],
    ) -> list[ServerResponse]:
        listings = [entry.listing for entry, _ in shown if entry.listing is not None]
        installs = (
            await self._authorizer.install_decisions(
                subject, [install_item(subject, listing, approvals) for listing in listings]
            )
            if listings
            else {}
        )
        return [self._response(entry, decision, installs) for entry, decision in shown]

    @staticmethod
    def _response(
        entry: _Entry, decision: Decision, installs: Mapping[str, Decision]
    ) -> ServerResponse:
        install = installs.get(entry.listing.id) if entry.listing is not None else None
        allowed = None if install is None else install.allow and install.visible
        return ServerResponse(
            server=entry.detail,
            meta=EntryMeta(
                official=OfficialMeta(published_at=entry.published_at, updated_at=entry.updated_at),
                gateway=GatewayMeta(
                    source=entry.resource.source or "catalog",
                    id=entry.resource.id or "",
                    installed=entry.installed,
                    enterprise_id=entry.resource.enterprise_id,
                    install_allowed=allowed,
                    reasons=[] if install is None or allowed else list(install.reasons),
                    decision_id=decision.decision_id,
                ),
            ),
        )

    # --- the API ---------------------------------------------------------------------------

    async def servers(self, subject: Subject, query: RegistryQuery) -> ServerList:
        """`GET /v0.1/servers`: filtered, then paged by name, then decided (only the page)."""
        after = decode_cursor(query.cursor) if query.cursor else None
        entries, approvals = await self._entries(subject)
        needle = query.search.strip().casefold() if query.search else ""
        since = _aware(query.updated_since) if query.updated_since else None
        wanted = [
            entry
            for entry in entries
            if (after is None or entry.name > after)
            and (not needle or needle in entry.name.casefold() or _in_text(needle, entry.detail))
            and (query.version in (None, LATEST) or entry.detail.version == query.version)
            and (since is None or entry.updated_at >= since)
        ]
        # One more than the page: whether there is a next page at all.
        shown = await self._shown(subject, wanted, query.limit + 1)
        more = len(shown) > query.limit
        page = shown[: query.limit]
        servers = await self._described(subject, page, approvals)
        next_cursor = encode_cursor(page[-1][0].name) if more and page else None
        return ServerList(
            servers=servers, metadata=ListMetadata(count=len(servers), next_cursor=next_cursor)
        )

    async def server(self, subject: Subject, name: str, version: str = LATEST) -> ServerResponse:
        """`GET /v0.1/servers/{name}/versions/{version}`: `latest` or the entry's version.
        Unknown or not shown to the caller: 404 (decided and logged all the same)."""
        entries, approvals = await self._entries(subject)
        entry = next((e for e in entries if e.name == name), None)
        if entry is None:
            await self._authorizer.missing(
                REGISTRY_READ,
                subject,
                inputs.missing(RegistryEntryResource, "", name=name),
                what=f"server {name}",
            )
        decision = await self._authorizer.decide(REGISTRY_READ, subject, entry.resource)
        if not (decision.allow and decision.visible):
            raise NotFound(f"server {name} not found")
        if version not in (LATEST, entry.detail.version):
            raise NotFound(f"server {name} has no version {version}")
        (response,) = await self._described(subject, [(entry, decision)], approvals)
        return response

    async def versions(self, subject: Subject, name: str) -> ServerList:
        """`GET /v0.1/servers/{name}/versions`: the gateway keeps one version per entry."""
        response = await self.server(subject, name)
        return ServerList(servers=[response], metadata=ListMetadata(count=1))


def _in_text(needle: str, detail: ServerDetail) -> bool:
    return needle in (detail.title or "").casefold() or needle in detail.description.casefold()
