"""Path and query parameters, validated (with the patterns of gateway.domain.ids) before
anything reaches a store or a Vault path."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from gateway.domain import ids

ServerIdParam = Annotated[
    str, Parameter(pattern=ids.SERVER_ID, max_length=69, description="server id")
]
EnterpriseServerIdParam = Annotated[
    str, Parameter(pattern=ids.ENTERPRISE_SERVER_ID, max_length=69, description="server id")
]
EnterpriseIdParam = Annotated[
    str, Parameter(pattern=ids.ENTERPRISE_ID, max_length=68, description="enterprise id")
]
OptionalEnterpriseId = Annotated[
    str | None,
    Parameter(
        pattern=ids.ENTERPRISE_ID,
        max_length=68,
        description="required when the caller belongs to more than one enterprise",
    ),
]
UserIdParam = Annotated[
    str, Parameter(pattern=ids.USER_ID, max_length=256, description="user id (JWT sub)")
]
EnvVarParam = Annotated[
    str, Parameter(pattern=ids.ENV_VAR, max_length=128, description="env var name")
]
ListingIdParam = Annotated[
    str, Parameter(pattern=ids.LISTING_ID, max_length=128, description="listing id")
]
