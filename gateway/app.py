"""The composition root: the one `create_app()`. Routes, dependencies, middleware, error
handlers and the lifespan that opens the runtime (gateway/wiring.py builds it) and runs the
background work (policy watching, finishing interrupted enterprise deletions); and
`openapi_document()`, which builds an app to read its document."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from jinja2 import Environment, FileSystemLoader
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins import InitPluginProtocol
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.serialization import encode_json
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from gateway.api.console import CONSOLE_DIR
from gateway.api.controllers.approvals import ApprovalController
from gateway.api.controllers.audit import AuditController, AuditSummaryController
from gateway.api.controllers.console import ConsoleController
from gateway.api.controllers.enterprise_servers import (
    EnterpriseServerController,
    EnterpriseServerCredentialController,
)
from gateway.api.controllers.enterprises import EnterpriseController
from gateway.api.controllers.health import healthz, readyz
from gateway.api.controllers.invitations import InvitationController
from gateway.api.controllers.marketplace import MarketplaceController
from gateway.api.controllers.mcp_servers import MCPServerController, MCPServerCredentialController
from gateway.api.controllers.metrics import metrics_route
from gateway.api.controllers.oauth import protected_resource_metadata
from gateway.api.controllers.policy import PolicyController, bundle_route
from gateway.api.controllers.registry import REGISTRY_PATHS, RegistryController
from gateway.api.controllers.tool_pins import ToolPinController
from gateway.api.deps import DEPENDENCIES, runtime_of
from gateway.api.edge.auth import UNAUTHENTICATED, BearerAuthenticationMiddleware
from gateway.api.edge.layer import Edge
from gateway.api.edge.view_lane import ViewLane
from gateway.api.errors import (
    gateway_error_handler,
    http_error_handler,
    unexpected_error_handler,
    validation_error_handler,
)
from gateway.api.openapi.answers import SECURITY
from gateway.api.openapi.answers import components as openapi_components
from gateway.api.openapi.refine import refined, render_plugins
from gateway.api.requests import GatewayRequest
from gateway.audit.recorder import AuditRecorder
from gateway.config import Settings, load_settings
from gateway.errors import GatewayError
from gateway.mcp_proxy import MCPProxy
from gateway.mcp_proxy.services import ProxyServices
from gateway.observability.metrics import count_backend_error, worker_exiting
from gateway.services.identity import Authenticator
from gateway.wiring import Runtime, open_runtime

log = logging.getLogger("gateway")


class GatewayPlugin(InitPluginProtocol):
    """Wires routes, dependencies, middleware, error handlers and the runtime's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = State()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.state = self.state
        self._configure_lifespan(app_config)
        self._configure_routes(app_config)
        self._configure_middleware(app_config)
        self._configure_errors(app_config)
        app_config.request_class = GatewayRequest
        # CORS `*` on the MCP registry (/v0.1), outside the edge: answers of every kind.
        app_config.after_exception.append(count_backend_error)  # backend errors, by backend
        app_config.openapi_config = OpenAPIConfig(
            title="MCP Policy Gateway",
            version="0.1.0",
            path="/schema",
            # Every route needs the bearer token but the few that say `security: []`.
            components=openapi_components(),
            security=SECURITY,
            render_plugins=render_plugins(),  # each serves the refined document
        )
        return app_config

    def _authenticator(self) -> Authenticator:
        return runtime_of(self.state).services.authenticator

    def _recorder(self) -> AuditRecorder | None:
        runtime = self.state.get("runtime")
        return runtime.services.recorder if isinstance(runtime, Runtime) else None

    def _proxy_services(self) -> ProxyServices:
        found = self.state.get("proxy_services")
        if not isinstance(found, ProxyServices):
            raise RuntimeError("the gateway's runtime is not open (lifespan not started)")
        return found

    def _configure_lifespan(self, app_config: AppConfig) -> None:
        settings = self.settings

        @asynccontextmanager
        async def runtime_lifespan(app: Litestar) -> AsyncIterator[None]:
            if not settings.auth_enabled:
                log.warning(
                    "AUTHENTICATION IS DISABLED (GATEWAY_AUTH_ENABLED=false): every caller is "
                    "the unscoped local-dev subject and sees every user's servers. "
                    "Never run this way outside local development."
                )
            if settings.allow_private_upstreams:
                log.warning(
                    "GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true: any user's HTTP MCP server may point "
                    "the gateway at any address: loopback, private networks, cloud metadata "
                    "(169.254.169.254), Vault. Name the ranges upstreams need in "
                    "GATEWAY_PRIVATE_UPSTREAM_CIDRS instead."
                )
            runtime = await open_runtime(settings)
            app.state.runtime = runtime
            app.state.proxy_services = _proxy_services(runtime)
            runtime.start()
            finisher = asyncio.get_running_loop().create_task(
                runtime.services.deletions.run(), name="enterprise-deletions"
            )
            try:
                yield
            finally:
                finisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await finisher
                await runtime.aclose()  # the decision log's writer first: it flushes
                worker_exiting()

        app_config.lifespan.append(runtime_lifespan)

    def _configure_routes(self, app_config: AppConfig) -> None:
        app_config.route_handlers.extend(
            [
                healthz,
                readyz,
                metrics_route(self.settings.metrics_token),
                protected_resource_metadata,
                MCPServerController,
                MCPServerCredentialController,
                ToolPinController,
                ApprovalController,
                EnterpriseController,
                InvitationController,
                EnterpriseServerController,
                EnterpriseServerCredentialController,
                MarketplaceController,
                RegistryController,
                AuditController,
                PolicyController,
                AuditSummaryController,
                ConsoleController,
                create_static_files_router(
                    path="/console/static",
                    directories=[CONSOLE_DIR / "static"],
                    include_in_schema=False,
                    name="console-static",
                ),
            ]
        )
        if self.settings.bundle_token:  # no route at all where no bundle is served
            app_config.route_handlers.append(bundle_route(self.settings.bundle_token))
        app_config.template_config = TemplateConfig(
            instance=JinjaTemplateEngine.from_environment(
                Environment(
                    loader=FileSystemLoader(CONSOLE_DIR / "templates"),
                    autoescape=True,
                    enable_async=False,
                )
            )
        )
        app_config.dependencies.update(DEPENDENCIES)
        # /mcp after the runtime's lifespan: MCP sessions close before the backends do.
        proxy = MCPProxy(self._proxy_services)
        app_config.route_handlers.append(proxy.route_handler())
        app_config.lifespan.append(proxy.lifespan)

    def _configure_middleware(self, app_config: AppConfig) -> None:
        # The edge (admission, Origin, request scope, deadlines, headers, metrics) wraps the
        # whole app once it is built (`create_app`); inside routing only the bearer token.
        self.view_lane = ViewLane(lambda: runtime_of(self.state).services)
        self.state.view_lane = self.view_lane  # what it served: /metrics, tests
        self.edge = Edge(
            max_in_flight=self.settings.max_concurrent_requests,
            body_timeout_seconds=self.settings.body_timeout_seconds,
            allowed_origins=self.settings.allowed_origins,
            recorder_of=self._recorder,
            access_log=self.settings.access_log,
            view_lane=self.view_lane,
        )
        self.state.admission = self.edge.admission
        app_config.middleware.append(
            DefineMiddleware(
                BearerAuthenticationMiddleware,
                authenticator=self._authenticator,
                exclude=[*UNAUTHENTICATED, REGISTRY_PATHS],
            )
        )

    def _configure_errors(self, app_config: AppConfig) -> None:
        app_config.exception_handlers.update(
            {
                GatewayError: gateway_error_handler,
                ValidationException: validation_error_handler,
                HTTPException: http_error_handler,
                Exception: unexpected_error_handler,
            }
        )


def _proxy_services(runtime: Runtime) -> ProxyServices:
    services = runtime.services
    return ProxyServices(
        settings=runtime.settings,
        servers=services.servers,
        authorizer=services.authorizer,
        credentials=services.credentials,
        recorder=services.recorder,
        hosting=runtime.hosting,
        tool_pins=runtime.stores.tool_pins,
        approvals=runtime.stores.approvals,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    settings.validate()
    plugin = GatewayPlugin(settings)
    # Logging is configured by the process (gateway serve), not reconfigured by the app.
    app = Litestar(
        plugins=[plugin],
        debug=False,
        logging_config=None,
        # Checked on Content-Length and while streaming, before a byte is decoded (413). A
        # constructor argument: Litestar ignores it when a plugin sets it on the AppConfig.
        request_max_body_size=settings.max_body_bytes,
    )
    # Around Litestar's exception handling and routing (what `Litestar.__call__` runs for
    # every HTTP request), so every answer, an error's too, passes the edge's one `send`.
    app.asgi_handler = plugin.edge.wrap(app.asgi_handler, router=app.asgi_router)
    plugin.view_lane.bind(app)  # the route it stands in for, now registered
    return app


def openapi_document() -> dict[str, Any]:
    """The live document, as `/schema/openapi.json` serves it (it depends on no setting).
    Here, in the composition root, because it builds an app: the api package never imports
    gateway.app (tests/unit/test_import_graph.py)."""
    app = create_app(Settings(auth_enabled=False))
    # Through Litestar's encoder, as served: the schema objects hold Structs (examples).
    served = msgspec.json.decode(encode_json(app.openapi_schema.to_schema()))
    return refined(app, served)
