"""Typed providers: one per dependency a handler can name. Handlers ask for a service by
name and type (`servers: NamedDependency[MCPServerService]`); a name with no provider fails
at startup, a wrong type in mypy."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from gateway.api.idempotency import CreateOnce, IdempotencyKeyHeader
from gateway.domain.subjects import ANONYMOUS_SUBJECT, Subject
from gateway.errors import Unauthenticated
from gateway.services.approvals import ApprovalService
from gateway.services.audit import AuditService
from gateway.services.credentials import CredentialService
from gateway.services.enterprise_servers import EnterpriseServerService
from gateway.services.enterprises import EnterpriseService
from gateway.services.marketplace import MarketplaceService
from gateway.services.policy_status import PolicyStatusService
from gateway.services.registry import RegistryService
from gateway.services.servers import MCPServerService
from gateway.services.tool_pins import ToolPinService
from gateway.wiring import Runtime


def runtime_of(state: State) -> Runtime:
    """The process's Runtime, opened by the lifespan (gateway/app.py)."""
    runtime = state.get("runtime")
    if not isinstance(runtime, Runtime):
        raise RuntimeError("the gateway's runtime is not open (lifespan not started)")
    return runtime


def provide_runtime(state: State) -> Runtime:
    return runtime_of(state)


def provide_subject(request: Request[Subject, Any, Any]) -> Subject:
    """The authenticated subject (BearerAuthenticationMiddleware set `request.user`)."""
    return request.user


# Each service provider names `subject` (unused): Litestar resolves dependencies that do not
# depend on each other in one batch, concurrently, in an anyio task group per request (3-4 %
# of a warm read in the profile); chained, each batch is one dependency, awaited directly.
# Every handler that takes a service is authenticated, so `subject` is always there.


def provide_servers(state: State, subject: NamedDependency[Subject]) -> MCPServerService:
    return runtime_of(state).services.servers


def provide_enterprise_servers(
    state: State, subject: NamedDependency[Subject]
) -> EnterpriseServerService:
    return runtime_of(state).services.enterprise_servers


def provide_enterprises(state: State, subject: NamedDependency[Subject]) -> EnterpriseService:
    return runtime_of(state).services.enterprises


def provide_credentials(state: State, subject: NamedDependency[Subject]) -> CredentialService:
    return runtime_of(state).services.credentials


def provide_marketplace(state: State, subject: NamedDependency[Subject]) -> MarketplaceService:
    return runtime_of(state).services.marketplace


def provide_audit(state: State, subject: NamedDependency[Subject]) -> AuditService:
    return runtime_of(state).services.audit


async def provide_registry_caller(state: State, request: Request[Any, Any, Any]) -> Subject:
    """The MCP registry's caller (its paths are not behind the bearer middleware): no
    `Authorization` header is the anonymous subject (the local-dev subject with auth off); a
    header is verified as on every route, so a bad token is a 401, never anonymous."""
    authenticator = runtime_of(state).services.authenticator
    header = request.headers.get("authorization")
    if header is not None:
        return await authenticator.authenticate(header)
    try:
        return await authenticator.authenticate(None)
    except Unauthenticated:
        return ANONYMOUS_SUBJECT


def provide_registry(state: State, caller: NamedDependency[Subject]) -> RegistryService:
    return runtime_of(state).services.registry


def provide_policy_status(state: State, subject: NamedDependency[Subject]) -> PolicyStatusService:
    return runtime_of(state).services.policy_status


def provide_tool_pins(state: State, subject: NamedDependency[Subject]) -> ToolPinService:
    return runtime_of(state).services.tool_pins


def provide_approvals(state: State, subject: NamedDependency[Subject]) -> ApprovalService:
    return runtime_of(state).services.approvals


def provide_create_once(
    state: State,
    request: Request[Subject, Any, Any],
    subject: NamedDependency[Subject],
    idempotency_key: IdempotencyKeyHeader = None,
) -> CreateOnce:
    """The creating POSTs' Idempotency-Key handling (the header is documented on each)."""
    return CreateOnce(runtime_of(state).stores.idempotency, subject, request, idempotency_key)


DEPENDENCIES = {
    "runtime": Provide(provide_runtime, sync_to_thread=False),
    "subject": Provide(provide_subject, sync_to_thread=False),
    "servers": Provide(provide_servers, sync_to_thread=False),
    "enterprise_servers": Provide(provide_enterprise_servers, sync_to_thread=False),
    "enterprises": Provide(provide_enterprises, sync_to_thread=False),
    "credentials": Provide(provide_credentials, sync_to_thread=False),
    "marketplace": Provide(provide_marketplace, sync_to_thread=False),
    "audit": Provide(provide_audit, sync_to_thread=False),
    "policy_status": Provide(provide_policy_status, sync_to_thread=False),
    "caller": Provide(provide_registry_caller),
    "registry": Provide(provide_registry, sync_to_thread=False),
    "create_once": Provide(provide_create_once, sync_to_thread=False),
    "tool_pins": Provide(provide_tool_pins, sync_to_thread=False),
    "approvals": Provide(provide_approvals, sync_to_thread=False),
}
