"""Ids are a prefix plus a time-ordered random part, so sorting by id sorts by creation."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

import msgspec

PERSONAL_SERVER_PREFIX = "mcp_"
ENTERPRISE_SERVER_PREFIX = "emcp_"
ENTERPRISE_PREFIX = "ent_"

ID_PATTERN = r"^[a-z]{2,5}_[0-9a-z]{1,64}$"
ServerId = Annotated[str, msgspec.Meta(pattern=r"^e?mcp_[0-9a-z]{1,64}$", max_length=70)]
EnterpriseId = Annotated[str, msgspec.Meta(pattern=r"^ent_[0-9a-z_]{1,64}$", max_length=70)]
# Subjects come from the identity provider: any printable id without `/` (it reaches Vault paths).
UserId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._@|:+-]{1,256}$")]


def new_id(prefix: str) -> str:
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"
