"""The identity the gateway acts on, read from a verified token's payload: who (`sub`, a user
or — a client-credentials token — a service), for which resources (`aud`), with which scopes,
platform roles (from the configured claim path) and the other claims the policy may see
(GATEWAY_JWT_CLAIMS). Other payload fields are ignored on purpose."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from gateway.domain.ids import UserId
from gateway.domain.subjects import SubjectKind
from gateway.domain.validation import field_error
from gateway.errors import Unauthenticated

Email = Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
# A claim the policy gets is small JSON: a string, number, boolean or a list of those.
_MAX_CLAIM_BYTES = 4096
_encode = msgspec.json.Encoder().encode


class Claims(msgspec.Struct, kw_only=True, frozen=True):
    """`sub` becomes part of Vault paths and Redis keys, so it is checked here, at the edge."""

    sub: UserId
    email: Email | None = None
    name: str | None = None
    roles: tuple[str, ...] = ()
    exp: int
    aud: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    kind: SubjectKind = "user"
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class _Payload(msgspec.Struct, kw_only=True):
    sub: UserId
    email: Email | None = None
    name: str | None = None
    exp: int
    aud: str | list[str] | None = None
    scope: str | None = None
    scp: str | list[str] | None = None
    client_id: str | None = None


class ClaimsReader:
    """Payload -> Claims, with the configured roles path and extra claims."""

    def __init__(self, roles_claim: str = "roles", extra: tuple[str, ...] = ()) -> None:
        self._roles_path = tuple(roles_claim.split("."))
        self._extra = extra

    def read(self, payload: Mapping[str, Any]) -> Claims:
        try:
            # Through bytes, not convert: a lone surrogate (valid JSON escape, not UTF-8) in
            # any claim is refused here instead of failing every later encode of the subject.
            base = msgspec.json.decode(_encode(payload), type=_Payload)
        except UnicodeEncodeError:
            raise Unauthenticated("invalid claims: not valid UTF-8") from None
        except msgspec.ValidationError as exc:
            raise Unauthenticated(f"invalid claims: {_field(exc)}") from None
        # RFC 9068: a client-credentials token's subject is the client itself.
        kind: SubjectKind = "service" if base.client_id and base.client_id == base.sub else "user"
        if kind == "user" and base.email is None:
            raise Unauthenticated("missing claim: email")
        return Claims(
            sub=base.sub,
            email=base.email,
            name=base.name,
            roles=self._roles(payload),
            exp=base.exp,
            aud=_strings(base.aud),
            scopes=tuple(base.scope.split()) if base.scope else _strings(base.scp),
            kind=kind,
            extra=self._extras(payload),
        )

    def _roles(self, payload: Mapping[str, Any]) -> tuple[str, ...]:
        found: Any = payload
        for part in self._roles_path:
            found = found.get(part) if isinstance(found, Mapping) else None
        if found is None:
            return ()
        if not isinstance(found, list) or not all(isinstance(r, str) for r in found):
            raise Unauthenticated(f"invalid claims: {'.'.join(self._roles_path)}")
        return tuple(found)

    def _extras(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        extras = {}
        for name in self._extra:
            if name not in payload:
                continue
            value = payload[name]
            flat = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str | int | float | bool) for v in flat) or (
                len(_encode(value)) > _MAX_CLAIM_BYTES
            ):
                raise Unauthenticated(f"invalid claims: {name}")
            extras[name] = value
        return extras


def _strings(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _field(exc: msgspec.ValidationError) -> str:
    field, _ = field_error(exc)
    return field.split("[")[0] or "payload"
