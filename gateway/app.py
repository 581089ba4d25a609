"""The composition root: the one `create_app()`, and the only place that builds backends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.plugins import InitPluginProtocol

from gateway.api.auth import authenticate, provide_subject
from gateway.api.enterprise_servers import EnterpriseServerController
from gateway.api.enterprises import EnterpriseController
from gateway.api.errors import (
    gateway_error_handler,
    http_error_handler,
    unexpected_error_handler,
    validation_error_handler,
)
from gateway.api.health import healthz, readyz
from gateway.api.invitations import InvitationController
from gateway.api.marketplace import MarketplaceController
from gateway.api.mcp_servers import MCPServerController, MCPServerCredentialController
from gateway.api.middleware import request_context_middleware
from gateway.audit.log import DecisionLog, MemoryDecisionLog
from gateway.auth.tokens import TokenVerifier
from gateway.config import Settings, load_settings
from gateway.errors import GatewayError
from gateway.marketplace.catalog import load_catalog
from gateway.policy.decider import Authorizer
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.policy.engine import PolicyEngine
from gateway.secrets.base import SecretStore
from gateway.secrets.memory import MemorySecretStore
from gateway.services.credentials import CredentialService
from gateway.services.deletions import EnterpriseDeletions
from gateway.services.enterprise_servers import EnterpriseServerService
from gateway.services.enterprises import EnterpriseService
from gateway.services.identity import SubjectResolver
from gateway.services.listings import ListingApprovals
from gateway.services.marketplace import MarketplaceService
from gateway.services.secret_records import CredentialRecords
from gateway.services.servers import MCPServerService
from gateway.services.view_cache import RedisMergedViewCache
from gateway.services.views import MergedView
from gateway.stores.base import EnterpriseMCPServerStore, EnterpriseStore, MCPServerStore
from gateway.stores.memory import (
    MemoryEnterpriseMCPServerStore,
    MemoryEnterpriseStore,
    MemoryMCPServerStore,
)

log = logging.getLogger("gateway")


@dataclass
class Backends:
    """Everything the services need, opened once per app in the lifespan."""

    settings: Settings
    engine: PolicyEngine
    decision_log: DecisionLog
    personal: MCPServerStore
    enterprise_servers: EnterpriseMCPServerStore
    enterprises: EnterpriseStore
    verifier: TokenVerifier | None
    authorizer: Authorizer
    subjects: SubjectResolver
    view: MergedView
    servers: MCPServerService
    enterprise_service: EnterpriseService
    enterprise_server_service: EnterpriseServerService
    secrets: SecretStore
    credentials: CredentialService
    marketplace: MarketplaceService
    deletions: EnterpriseDeletions
    _closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {
            "policy_engine": self.engine.check,
            "stores": self.personal.check,
            "decision_log": self.decision_log.check,
            "secrets": self.secrets.check,
        }

    # Without Vault only the credential endpoints fail (503); the replica still serves the
    # rest, so a Vault outage must not take every replica out of the load balancer.
    degradable = frozenset({"secrets"})

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:  # closing must go on for the others
                log.exception("error while closing a backend")


async def open_backends(settings: Settings) -> Backends:
    # First, before any client opens: a CatalogError (naming file, entry, field) stops startup.
    catalog = load_catalog(settings.marketplace_catalog)
    closers: list[Callable[[], Awaitable[Any]]] = []
    engine: PolicyEngine = EmbeddedRegoEngine(
        settings.policy_dir, poll_seconds=settings.policy_poll_seconds
    )
    closers.append(engine.aclose)
    decision_log: DecisionLog = MemoryDecisionLog()
    personal: MCPServerStore
    enterprise_servers: EnterpriseMCPServerStore
    enterprises: EnterpriseStore
    view_cache: RedisMergedViewCache | None = None
    if settings.redis_url:
        from gateway.stores.redis import (
            RedisEnterpriseMCPServerStore,
            RedisEnterpriseStore,
            RedisMCPServerStore,
            redis_client_from_url,
        )

        client = redis_client_from_url(settings.redis_url)
        closers.append(client.aclose)
        personal = RedisMCPServerStore(client)
        enterprise_servers = RedisEnterpriseMCPServerStore(client)
        enterprises = RedisEnterpriseStore(client)
        view_cache = RedisMergedViewCache(client, lambda: engine.revision)
    else:
        memory_enterprises = MemoryEnterpriseStore()
        personal = MemoryMCPServerStore()
        enterprise_servers = MemoryEnterpriseMCPServerStore(memory_enterprises)
        enterprises = memory_enterprises
    secrets: SecretStore
    if settings.vault_addr:
        from gateway.secrets.vault import VaultSecretStore

        secrets = VaultSecretStore.from_settings(settings)
    else:
        secrets = MemorySecretStore()
    closers.append(secrets.aclose)
    records = CredentialRecords(secrets, personal, enterprise_servers)
    verifier = TokenVerifier.from_settings(settings) if settings.auth_enabled else None
    if verifier is not None:
        closers.append(verifier.aclose)
    authorizer = Authorizer(engine, decision_log)
    view = MergedView(authorizer, personal, enterprise_servers, view_cache)
    listings = ListingApprovals(catalog, enterprise_servers)
    servers = MCPServerService(authorizer, personal, enterprise_servers, view, records, listings)
    enterprise_server_service = EnterpriseServerService(authorizer, enterprise_servers, records)
    deletions = EnterpriseDeletions(enterprises, enterprise_servers, records)
    return Backends(
        settings=settings,
        engine=engine,
        decision_log=decision_log,
        personal=personal,
        enterprise_servers=enterprise_servers,
        enterprises=enterprises,
        verifier=verifier,
        authorizer=authorizer,
        subjects=SubjectResolver(authorizer, enterprises),
        view=view,
        servers=servers,
        enterprise_service=EnterpriseService(authorizer, enterprises, deletions),
        enterprise_server_service=enterprise_server_service,
        secrets=secrets,
        credentials=CredentialService(records, servers, enterprise_server_service),
        marketplace=MarketplaceService(authorizer, view, listings, servers),
        deletions=deletions,
        _closers=closers,
    )


def _from_backends(name: str) -> Provide:
    async def provide(state: State) -> Any:
        return getattr(state.backends, name)

    return Provide(provide)


class GatewayPlugin(InitPluginProtocol):
    """Wires routes, dependencies, error handlers and the backends' lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        self._configure_lifespan(app_config)
        self._configure_routes(app_config)
        self._configure_errors(app_config)
        app_config.middleware.append(request_context_middleware)
        app_config.openapi_config = OpenAPIConfig(
            title="MCP Policy Gateway", version="0.1.0", path="/schema"
        )
        return app_config

    def _configure_lifespan(self, app_config: AppConfig) -> None:
        settings = self.settings

        @asynccontextmanager
        async def backends_lifespan(app: Litestar) -> AsyncIterator[None]:
            if not settings.auth_enabled:
                log.warning(
                    "AUTHENTICATION IS DISABLED (GATEWAY_AUTH_ENABLED=false): every caller is "
                    "the unscoped local-dev subject and sees every user's servers. "
                    "Never run this way outside local development."
                )
            backends = await open_backends(settings)
            app.state.backends = backends
            backends.engine.start()
            finisher = asyncio.get_running_loop().create_task(
                backends.deletions.run(), name="enterprise-deletions"
            )
            try:
                yield
            finally:
                finisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await finisher
                await backends.aclose()

        app_config.lifespan.append(backends_lifespan)

    def _configure_routes(self, app_config: AppConfig) -> None:
        v1 = Router(
            path="/",
            route_handlers=[
                MCPServerController,
                MCPServerCredentialController,
                EnterpriseController,
                InvitationController,
                EnterpriseServerController,
                MarketplaceController,
            ],
            guards=[authenticate],
            dependencies={
                "subject": Provide(provide_subject),
                "servers": _from_backends("servers"),
                "enterprises": _from_backends("enterprise_service"),
                "enterprise_servers": _from_backends("enterprise_server_service"),
                "credentials": _from_backends("credentials"),
                "marketplace": _from_backends("marketplace"),
            },
        )
        app_config.route_handlers.extend([healthz, readyz, v1])

    def _configure_errors(self, app_config: AppConfig) -> None:
        app_config.exception_handlers.update(
            {
                GatewayError: gateway_error_handler,
                ValidationException: validation_error_handler,
                HTTPException: http_error_handler,
                Exception: unexpected_error_handler,
            }
        )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    settings.validate()
    # Logging is configured by the process (gateway serve), not reconfigured by the app.
    return Litestar(plugins=[GatewayPlugin(settings)], debug=False, logging_config=None)
