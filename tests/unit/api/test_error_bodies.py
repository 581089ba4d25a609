"""One home for the error body (gateway/api/errors.py): every error answer is an `ErrorBody`
encoded by `encode_error`. A body written by hand somewhere else is how the six copies
drifted: a dict in each handler, another in admission, bytes in the header deadline."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec

import gateway
from gateway.api.edge.deadlines import _REQUEST_TIMEOUT
from gateway.api.errors import DenialBody, ErrorBody, FieldError, encode_error, field_errors
from gateway.domain.decisions import Reason

PACKAGE = Path(gateway.__file__).resolve().parent
_FIELDS = {"status_code", "detail"}


def _hand_built(tree: ast.AST) -> list[int]:
    """Lines building an error body without the Structs: a dict literal or `dict(...)` with
    both fields, or a str/bytes constant holding the JSON of both."""
    lines = []
    for node in ast.walk(tree):
        keys: set[object] = set()
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "dict"
        ):
            keys = {k.arg for k in node.keywords}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            keys = {f for f in _FIELDS if f'"{f}"' in text}
        if keys >= _FIELDS:
            lines.append(node.lineno)
    return lines


def test_no_error_body_is_built_by_hand() -> None:
    found = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := _hand_built(ast.parse(path.read_text(), str(path))))
    }
    assert found == {}, "build an ErrorBody and encode it with gateway.api.errors.encode_error"


def test_the_check_finds_each_kind_of_hand_built_body() -> None:
    sources = [
        'body = {"status_code": 503, "detail": "busy"}',
        "body = dict(status_code=503, detail='busy')",
        """body = b'{"status_code":408,"detail":"too slow"}'""",
    ]
    assert [_hand_built(ast.parse(source)) for source in sources] == [[1], [1], [1]]
    assert _hand_built(ast.parse('Response(status_code=404, detail="x")')) == []


def test_the_header_deadline_writes_the_encoded_body() -> None:
    head, _, body = _REQUEST_TIMEOUT.partition(b"\r\n\r\n")
    assert msgspec.json.decode(body, type=ErrorBody) == ErrorBody(
        status_code=408, detail="request headers not received in time"
    )
    assert f"content-length: {len(body)}".encode() in head.split(b"\r\n")


def test_a_body_without_fields_has_no_extra_and_a_denial_always_its_decision() -> None:
    assert encode_error(ErrorBody(status_code=404, detail="x")) == (
        b'{"status_code":404,"detail":"x"}'
    )
    denial = DenialBody(
        status_code=403, detail="no", reasons=[Reason(code="c", message="m")], decision_id=None
    )
    assert msgspec.json.decode(encode_error(denial)) == {
        "status_code": 403,
        "detail": "no",
        "reasons": [{"code": "c", "message": "m"}],
        "decision_id": None,
    }


def test_litestars_extra_becomes_the_documented_fields() -> None:
    """Litestar adds `source`; the contract's FieldError is `key` and `message` (ADR 0018)."""
    extra = [
        {"key": "limit", "message": "Expected `int`", "source": "query"},
        {"message": "no key"},
        "not a field",
    ]
    assert field_errors(extra) == [
        FieldError(key="limit", message="Expected `int`"),
        FieldError(key="", message="no key"),
    ]
    assert field_errors({"key": "x"}) is None
    assert field_errors([]) is None
