"""Claims: the shape rules that protect what comes after authentication (e.g. Vault paths)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.auth import Claims


def _convert(**fields: Any) -> Claims:
    return msgspec.convert({"sub": "u", "email": "u@example.com", "exp": 1, **fields}, Claims)


@pytest.mark.parametrize("sub", ["u", "auth0|123", "a.b@c:d+e_f-g", "x" * 256])
def test_valid_subjects(sub: str) -> None:
    assert _convert(sub=sub).sub == sub


@pytest.mark.parametrize("sub", ["", "a/b", "../x", "a b", "é", "x" * 257, "a\nb"])
def test_invalid_subjects(sub: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.sub"):
        _convert(sub=sub)


def test_roles_become_a_tuple_and_unknown_claims_are_ignored() -> None:
    claims = _convert(roles=["a", "b"], iss="x", aud=["y"], custom={"k": 1})
    assert claims.roles == ("a", "b")
    assert claims.name is None


@pytest.mark.parametrize(
    "fields", [{"email": ""}, {"roles": "admin"}, {"roles": [None]}, {"exp": "soon"}]
)
def test_invalid_fields(fields: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        _convert(**fields)


def test_claims_are_frozen() -> None:
    claims = _convert()
    with pytest.raises(AttributeError):
        claims.sub = "other"  # type: ignore[misc]
