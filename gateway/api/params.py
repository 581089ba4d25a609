"""Path and query parameters, validated (with the patterns of gateway.domain.ids) before
anything reaches a store or a Vault path."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import Parameter

from gateway.domain import ids


def _param(pattern: str, max_length: int, description: str) -> Any:
    return Parameter(pattern=pattern, max_length=max_length, description=description)


ServerIdParam = Annotated[str, _param(ids.SERVER_ID, 69, "server id")]
EnterpriseServerIdParam = Annotated[str, _param(ids.ENTERPRISE_SERVER_ID, 69, "server id")]
EnterpriseIdParam = Annotated[str, _param(ids.ENTERPRISE_ID, 68, "enterprise id")]
OptionalEnterpriseId = Annotated[
    str | None,
    _param(ids.ENTERPRISE_ID, 68, "required when the caller belongs to more than one enterprise"),
]
UserIdParam = Annotated[str, _param(ids.USER_ID, 256, "user id (JWT sub)")]
EnvVarParam = Annotated[str, _param(ids.ENV_VAR, 128, "env var name")]
ListingIdParam = Annotated[str, _param(ids.LISTING_ID, 128, "listing id")]
DecisionIdParam = Annotated[str, _param(ids.DECISION_ID, 64, "decision id (X-Decision-Id)")]
UserIdQuery = Annotated[str | None, _param(ids.USER_ID, 256, "the subject's user id")]
ActionQuery = Annotated[str | None, _param(ids.ACTION, 320, "the policy action")]
ResourceIdQuery = Annotated[
    str | None, _param(ids.RESOURCE_ID, 256, "what was acted on (server, enterprise, user id)")
]
RequestIdQuery = Annotated[str | None, _param(ids.REQUEST_ID, 128, "X-Request-Id")]
