"""The only place backends are built: from the settings, the stores (memory or Redis), the
secrets (memory or Vault), the policy engine and the decision log, then the services on
top of them. Stores and services live in separate holders, so a store and a service never
share a name, and every field is typed: a wrong name fails in mypy, not at request time."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway import __version__
from gateway.audit.checkpoint import CheckpointSigner, checkpoint_key
from gateway.audit.log import DecisionLog
from gateway.audit.masking import Masker
from gateway.audit.memory_log import MemoryDecisionLog
from gateway.audit.recorder import AuditRecorder
from gateway.audit.volume import SubjectVolume
from gateway.audit.writer import AuditWriter
from gateway.auth.tokens import TokenVerifier
from gateway.config import ConfigError, Settings
from gateway.errors import BackendUnavailable
from gateway.marketplace.catalog import catalog_changed, load_catalog
from gateway.policy.bundle import BundleSigner
from gateway.policy.bundle_source import BundleSource
from gateway.policy.decider import Authorizer
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.policy.engine import PolicyEngine
from gateway.policy.opa import OPAEngine
from gateway.sandbox import HostingStatus, Limits, probe_hosting
from gateway.secrets.base import SecretStore
from gateway.secrets.memory import MemorySecretStore
from gateway.services.approvals import ApprovalService
from gateway.services.audit import AuditService
from gateway.services.credentials import CredentialService
from gateway.services.deletions import EnterpriseDeletions
from gateway.services.enterprise_servers import EnterpriseServerService
from gateway.services.enterprises import EnterpriseService
from gateway.services.identity import Audiences, Authenticator, SubjectResolver
from gateway.services.listings import ListingApprovals
from gateway.services.marketplace import MarketplaceService
from gateway.services.policy_status import PolicyStatusService
from gateway.services.registry import RegistryService
from gateway.services.secret_records import CredentialRecords
from gateway.services.servers import MCPServerService
from gateway.services.tool_pins import ToolPinService
from gateway.services.views import MergedView
from gateway.stores.approvals import ApprovalStore, MemoryApprovalStore
from gateway.stores.base import (
    EnterpriseMCPServerStore,
    EnterpriseStore,
    MCPServerStore,
    SubjectReads,
    ViewCache,
)
from gateway.stores.idempotency import IdempotencyStore, MemoryIdempotencyStore
from gateway.stores.memory import (
    MemoryEnterpriseMCPServerStore,
    MemoryEnterpriseStore,
    MemoryMCPServerStore,
)
from gateway.stores.rate_limits import MemoryRateLimiter, RateLimiter
from gateway.stores.subject_reads import CountThenRead
from gateway.stores.tool_pins import MemoryToolPinStore, ToolPinStore

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Stores:
    """The ports' adapters: where state lives."""

    personal: MCPServerStore
    enterprise_servers: EnterpriseMCPServerStore
    enterprises: EnterpriseStore
    secrets: SecretStore
    decision_log: DecisionLog
    view_cache: ViewCache | None
    idempotency: IdempotencyStore
    tool_pins: ToolPinStore
    approvals: ApprovalStore
    rate_limiter: RateLimiter | None = None  # None: GATEWAY_RATE_LIMIT_REQUESTS=0
    # The rate count and the memberships every request reads (one round trip on one Redis);
    # None: the rate limiter, then the enterprise store.
    subject_reads: SubjectReads | None = None


@dataclass(frozen=True)
class Services:
    """The use cases, built on the stores; no HTTP in them (the MCP proxy reuses them)."""

    authorizer: Authorizer
    authenticator: Authenticator
    view: MergedView
    servers: MCPServerService
    enterprise_servers: EnterpriseServerService
    enterprises: EnterpriseService
    credentials: CredentialService
    marketplace: MarketplaceService
    registry: RegistryService
    deletions: EnterpriseDeletions
    audit_writer: AuditWriter
    recorder: AuditRecorder
    audit: AuditService
    policy_status: PolicyStatusService
    tool_pins: ToolPinService
    approvals: ApprovalService


@dataclass
class Runtime:
    """Everything one gateway process opened, closed in reverse order by `aclose`."""

    settings: Settings
    engine: PolicyEngine
    stores: Stores
    services: Services
    hosting: HostingStatus  # stdio servers in sandboxes: on, or off and why
    # The OPA bundle this gateway serves (GATEWAY_BUNDLE_TOKEN set), else None.
    bundles: BundleSource | None = None
    closers: list[Closer] = field(default_factory=list)

    def start(self) -> None:
        """Background work that needs the running loop: watching the policy directory."""
        self.engine.start()
        if self.bundles is not None:
            self.bundles.start()

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {
            "policy_engine": self.engine.check,
            "stores": self.stores.personal.check,
            "decision_log": self._decision_log_check,
            "secrets": self.stores.secrets.check,
        }

    async def _decision_log_check(self) -> None:
        await self.stores.decision_log.check()
        writer = self.services.audit_writer
        if writer.failing:
            raise BackendUnavailable(f"decision log failing: {writer.stats.last_error}")

    @property
    def degradable(self) -> frozenset[str]:
        """Checks that may fail while the replica still serves. Without Vault only the
        credential endpoints fail (503), so a Vault outage must not take every replica out of
        the load balancer; a failing decision log only when logging is not required."""
        if self.settings.audit_required:
            return frozenset({"secrets"})
        return frozenset({"secrets", "decision_log"})

    async def aclose(self) -> None:
        await _close_all(self.closers)


async def _close_all(closers: list[Closer]) -> None:
    for close in reversed(closers):
        try:
            await close()
        except Exception:  # closing must go on for the others
            log.exception("error while closing a backend")


def checkpoint_signer(settings: Settings) -> CheckpointSigner:
    """Signs retention checkpoints (gateway/audit/checkpoint.py): the key of
    GATEWAY_AUDIT_CHECKPOINT_KEY, else one derived from GATEWAY_JWT_SECRET, else none."""
    return CheckpointSigner(checkpoint_key(settings.audit_checkpoint_key, settings.jwt_secret))


def _stores(settings: Settings, engine: PolicyEngine, closers: list[Closer]) -> Stores:
    personal: MCPServerStore
    enterprise_servers: EnterpriseMCPServerStore
    enterprises: EnterpriseStore
    view_cache: ViewCache | None = None
    subject_reads: SubjectReads | None = None
    decision_log: DecisionLog
    if settings.redis_url:
        from gateway.audit.redis_log import RedisDecisionLog
        from gateway.stores.redis import (
            RedisEnterpriseMCPServerStore,
            RedisEnterpriseStore,
            RedisMCPServerStore,
            RedisMergedViewCache,
            redis_client_from_url,
        )
        from gateway.stores.redis.approvals import RedisApprovalStore
        from gateway.stores.redis.idempotency import RedisIdempotencyStore
        from gateway.stores.redis.rate_limits import RedisRateLimiter
        from gateway.stores.redis.tool_pins import RedisToolPinStore

        client = redis_client_from_url(
            settings.redis_url,
            cluster=settings.redis_cluster,
            max_connections=settings.redis_max_connections,
            pool_timeout=settings.redis_pool_timeout_seconds,
        )
        closers.append(client.aclose)
        personal = RedisMCPServerStore(client)
        enterprise_servers = RedisEnterpriseMCPServerStore(client)
        redis_enterprises = RedisEnterpriseStore(client)
        enterprises = redis_enterprises
        view_cache = RedisMergedViewCache(client, lambda: engine.revision)
        if not settings.redis_cluster:  # one script spans the slots of one Redis only
            from gateway.stores.redis import multiplexed
            from gateway.stores.redis.subject_reads import RedisSubjectReads

            shared = None
            if multiplexed.supports(settings.redis_url):
                shared = multiplexed.MultiplexedConnection(settings.redis_url)
                closers.append(shared.aclose)
            subject_reads = RedisSubjectReads(
                client,
                redis_enterprises,
                limit=settings.rate_limit_requests,
                window_seconds=settings.rate_limit_window_seconds,
                shared=shared,
                view_cache=view_cache,
            )
        tool_pins: ToolPinStore = RedisToolPinStore(client)
        approvals: ApprovalStore = RedisApprovalStore(client)
        idempotency: IdempotencyStore = RedisIdempotencyStore(
            client, settings.idempotency_ttl_seconds
        )
        rate_limiter: RateLimiter | None = RedisRateLimiter(
            client, settings.rate_limit_requests, settings.rate_limit_window_seconds
        )
        decision_log = RedisDecisionLog(
            client,
            max_bytes=settings.audit_max_bytes or RedisDecisionLog.DEFAULT_MAX_BYTES,
            max_age_seconds=settings.audit_max_age_seconds,
            signer=checkpoint_signer(settings),
        )
    else:
        memory_enterprises = MemoryEnterpriseStore()
        personal = MemoryMCPServerStore()
        enterprise_servers = MemoryEnterpriseMCPServerStore(memory_enterprises)
        enterprises = memory_enterprises
        idempotency = MemoryIdempotencyStore(settings.idempotency_ttl_seconds)
        tool_pins = MemoryToolPinStore()
        approvals = MemoryApprovalStore()
        rate_limiter = MemoryRateLimiter(
            settings.rate_limit_requests, settings.rate_limit_window_seconds
        )
        decision_log = MemoryDecisionLog(
            max_bytes=settings.audit_max_bytes or MemoryDecisionLog.DEFAULT_MAX_BYTES,
            max_age_seconds=settings.audit_max_age_seconds,
            signer=checkpoint_signer(settings),
        )
    secrets: SecretStore
    if settings.vault_addr:
        from gateway.secrets.vault import VaultSecretStore

        secrets = VaultSecretStore.from_settings(settings)
    else:
        secrets = MemorySecretStore()
    closers.append(secrets.aclose)
    return Stores(
        personal=personal,
        enterprise_servers=enterprise_servers,
        enterprises=enterprises,
        secrets=secrets,
        decision_log=decision_log,
        view_cache=view_cache,
        idempotency=idempotency,
        tool_pins=tool_pins,
        approvals=approvals,
        rate_limiter=rate_limiter if settings.rate_limit_requests else None,
        subject_reads=subject_reads,
    )


def _services(
    settings: Settings,
    engine: PolicyEngine,
    stores: Stores,
    bundles: BundleSource | None,
    closers: list[Closer],
) -> Services:
    # First, before anything else is built: a CatalogError (naming file, entry, field) stops
    # startup.
    catalog = load_catalog(settings.marketplace_catalog)
    verifier = TokenVerifier.from_settings(settings) if settings.auth_enabled else None
    if verifier is not None:
        closers.append(verifier.aclose)
    writer = AuditWriter(
        stores.decision_log,
        Masker(engine),
        required=settings.audit_required,
        queue_size=settings.audit_queue_size,
        max_input_bytes=settings.audit_max_input_bytes or 2**62,
        volume=SubjectVolume(
            subject_bytes=settings.audit_subject_bytes_per_minute or 2**62,
            subject_records=settings.audit_subject_records_per_minute or 2**62,
        )
        if settings.audit_subject_bytes_per_minute or settings.audit_subject_records_per_minute
        else None,
    )
    closers.append(writer.aclose)  # closed first: what is queued is written while it can be
    labels = {
        "id": settings.instance_id or f"{socket.gethostname()}-{os.getpid()}",
        "version": __version__,
        "engine": engine.name,
    }
    recorder = AuditRecorder(writer, labels=labels)
    authorizer = Authorizer(engine, recorder)
    records = CredentialRecords(stores.secrets, stores.personal, stores.enterprise_servers)
    view = MergedView(authorizer, stores.personal, stores.enterprise_servers, stores.view_cache)
    listings = ListingApprovals(catalog, stores.enterprise_servers)
    reach = settings.upstream_reach()
    servers = MCPServerService(
        authorizer,
        stores.personal,
        stores.enterprise_servers,
        view,
        records,
        listings,
        upstream_reach=reach,
    )
    enterprise_servers = EnterpriseServerService(
        authorizer, stores.enterprise_servers, records, upstream_reach=reach
    )
    deletions = EnterpriseDeletions(stores.enterprises, stores.enterprise_servers, records)
    return Services(
        authorizer=authorizer,
        authenticator=Authenticator(
            verifier,
            SubjectResolver(
                authorizer,
                stores.enterprises,
                stores.subject_reads or CountThenRead(stores.rate_limiter, stores.enterprises),
            ),
            Audiences.from_settings(settings),
        ),
        view=view,
        servers=servers,
        enterprise_servers=enterprise_servers,
        enterprises=EnterpriseService(authorizer, stores.enterprises, deletions),
        credentials=CredentialService(records, servers, enterprise_servers),
        marketplace=MarketplaceService(authorizer, view, listings, servers),
        registry=RegistryService(
            authorizer,
            view,
            listings,
            mcp_url=settings.mcp_resource,
            catalog_changed=catalog_changed(settings.marketplace_catalog),
        ),
        deletions=deletions,
        audit_writer=writer,
        recorder=recorder,
        audit=AuditService(authorizer, stores.decision_log, writer),
        policy_status=PolicyStatusService(authorizer, engine, bundles),
        tool_pins=ToolPinService(authorizer, servers, stores.tool_pins),
        approvals=ApprovalService(authorizer, stores.approvals),
    )


async def _engine(settings: Settings) -> PolicyEngine:
    if settings.opa_url:
        opa = OPAEngine(
            settings.opa_url,
            timeout_seconds=settings.opa_timeout_seconds,
            poll_seconds=settings.policy_poll_seconds,
        )
        await opa.open()
        return opa
    return EmbeddedRegoEngine(
        settings.policy_dir,
        poll_seconds=settings.policy_poll_seconds,
        offload_bytes=settings.policy_offload_bytes,
    )


def _bundles(settings: Settings) -> BundleSource | None:
    if settings.bundle_token is None:
        return None
    signer = (
        BundleSigner(key=settings.bundle_signing_key, key_id=settings.bundle_signing_key_id)
        if settings.bundle_signing_key
        else None
    )
    return BundleSource(settings.policy_dir, signer, poll_seconds=settings.policy_poll_seconds)


def sandbox_limits(settings: Settings) -> Limits:
    return Limits(
        memory_bytes=settings.stdio_memory_bytes,
        cpu_seconds=settings.stdio_cpu_seconds,
        processes=settings.stdio_max_processes,
        open_files=settings.stdio_max_open_files,
    )


async def _hosting(settings: Settings) -> HostingStatus:
    """Probe once; `true` without a sandbox is a startup error, `auto` a loud line."""
    status = await probe_hosting(
        settings.stdio_hosting,
        settings.stdio_workspace_dir,
        sandbox_limits(settings),
        settings.stdio_readonly_paths,
    )
    if status.enabled:
        log.info("stdio hosting: on (%s)", status.reason)
    elif settings.stdio_hosting == "true":
        raise ConfigError(
            f"GATEWAY_STDIO_HOSTING=true but no sandbox can be made here: {status.reason}"
        )
    else:
        log.warning(
            "STDIO HOSTING IS OFF: stdio MCP servers will not run on this gateway (they show "
            "as unavailable through /mcp): %s",
            status.reason,
        )
    return status


async def open_runtime(settings: Settings) -> Runtime:
    hosting = await _hosting(settings)
    closers: list[Closer] = []
    engine = await _engine(settings)
    closers.append(engine.aclose)
    try:
        # Before the stores: a policy directory that fails its checks stops startup.
        bundles = _bundles(settings)
        if bundles is not None:
            closers.append(bundles.aclose)
        stores = _stores(settings, engine, closers)
        services = _services(settings, engine, stores, bundles, closers)
    except BaseException:
        await _close_all(closers)  # what was opened before the failure
        raise
    services.audit_writer.start()  # records flow from the first decision on
    return Runtime(
        settings=settings,
        engine=engine,
        stores=stores,
        services=services,
        hosting=hosting,
        bundles=bundles,
        closers=closers,
    )
