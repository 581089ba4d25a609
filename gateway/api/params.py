"""Path and query parameters, validated before anything reaches a store or Vault path."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

ServerIdParam = Annotated[
    str, Parameter(pattern=r"^e?mcp_[0-9a-z]{1,64}$", max_length=70, description="server id")
]
EnterpriseServerIdParam = Annotated[
    str, Parameter(pattern=r"^emcp_[0-9a-z]{1,64}$", max_length=70, description="server id")
]
EnterpriseIdParam = Annotated[
    str, Parameter(pattern=r"^ent_[0-9a-z_]{1,64}$", max_length=70, description="enterprise id")
]
OptionalEnterpriseId = Annotated[
    str | None,
    Parameter(
        pattern=r"^ent_[0-9a-z_]{1,64}$",
        description="required when the caller belongs to more than one enterprise",
    ),
]
UserIdParam = Annotated[
    str, Parameter(pattern=r"^[A-Za-z0-9._@|:+-]{1,256}$", description="user id (JWT sub)")
]
EnvVarParam = Annotated[
    str, Parameter(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$", description="env var name")
]
