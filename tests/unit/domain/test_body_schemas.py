"""The request-body schemas in the OpenAPI document against the Structs the gateway decodes
with: a body the schema allows is never a 400 (it is taken, or a 422 for a rule no schema
states), and a body it refuses is never taken. Two validators read the schema, Python's
`jsonschema` and the Rust `jsonschema_rs` (a regex engine that is not Python's), and must
agree: the patterns mean the same to every client."""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import jsonschema_rs
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from gateway.app import openapi_document
from gateway.domain.enterprises import EnterpriseCreate, EnterprisePatch, MemberPut
from gateway.domain.servers import (
    EnterpriseServerCreate,
    EnterpriseServerPatch,
    ServerCreate,
    ServerPatch,
)
from gateway.errors import InvalidInput, UnprocessableInput
from gateway.services.credentials import CredentialsPut

BODIES: dict[str, type[msgspec.Struct]] = {
    t.__name__: t
    for t in (
        ServerCreate,
        EnterpriseServerCreate,
        ServerPatch,
        EnterpriseServerPatch,
        EnterpriseCreate,
        EnterprisePatch,
        MemberPut,
        CredentialsPut,
    )
}

# Text from the characters the patterns turn on: whitespace of both engines, controls, URL
# and header pieces.
PIECES = [*" \t\n\r\x00\x1c\x85\xa0\u2028\ufeffaZ_9-:/.${}[]@é\U0001f600"]
PIECES += ["http://", "https://a.b", "A", "FOO", "Host", "${A}", "127.0.0.1"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
NAME = st.one_of(TEXT, st.sampled_from(["x", "My server", "a\u00a0b"]))
ENV = st.lists(st.sampled_from(["A", "FOO", "B", "a", "A\n", "_"]), max_size=3)
HEADERS = st.dictionaries(
    st.sampled_from(["X-Api", "x-api", "Authorization", "Host", "Mcp-Session-Id", "bad name"]),
    st.sampled_from(["v", "${A}", "${FOO}", "Bearer ${B}", "\u00e9", ""]),
    max_size=2,
)
URLS = ["http://x.y/", "https://example.com/m", "ftp://x/", "http://[", "http://127.0.0.1/"]
URLS += ["x", "http://a\u0000b/", "http:///p", "https://x.example/ m", "\thttp://x.y/"]
URL = st.sampled_from(URLS)
SERVER_FIELDS = {
    "name": NAME,
    "description": TEXT,
    "transport": st.sampled_from(["stdio", "sse", "streamable_http", "pigeon"]),
    "command": st.one_of(st.none(), st.sampled_from(["npx", ""])),
    "args": st.lists(TEXT, max_size=2),
    "url": st.one_of(st.none(), URL),
    "headers": HEADERS,
    "env": ENV,
    "enabled": st.one_of(st.booleans(), st.just(0)),
    "auto_enabled": st.booleans(),
    "marketplace_listing_id": st.one_of(st.none(), st.sampled_from(["fs", "Bad"])),
    "colour": st.just("blue"),
}
SERVER = st.fixed_dictionaries({}, optional=SERVER_FIELDS)
SHAPES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "ServerCreate": SERVER.map(lambda d: {"name": "n", "transport": "stdio", **d}),
    "EnterpriseServerCreate": SERVER.map(lambda d: {"name": "n", "transport": "sse", **d}),
    "ServerPatch": SERVER,
    "EnterpriseServerPatch": SERVER,
    "EnterpriseCreate": st.fixed_dictionaries(
        {"name": NAME},
        optional={"restrict_installs_to_approved": st.one_of(st.booleans(), st.just(0))},
    ),
    "EnterprisePatch": st.fixed_dictionaries(
        {}, optional={"name": NAME, "restrict_installs_to_approved": st.booleans()}
    ),
    "MemberPut": st.fixed_dictionaries({"role": st.sampled_from(["owner", "member", "x", None])}),
    "CredentialsPut": st.fixed_dictionaries(
        {"values": st.dictionaries(st.sampled_from(["A", "FOO", "a", "A-B", ""]), TEXT, max_size=3)}
    ),
}


def _outcome(struct: type[msgspec.Struct], body: dict[str, Any]) -> str:
    try:
        msgspec.json.decode(json.dumps(body).encode(), type=struct)
    except msgspec.ValidationError:
        return "400"
    except UnprocessableInput:
        return "422"
    except InvalidInput:
        return "400"
    return "taken"


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    return dict(openapi_document()["components"])


@pytest.mark.parametrize("name", sorted(BODIES))
def test_the_schema_and_the_decoder_agree(name: str, components: dict[str, Any]) -> None:
    schema = {**components["schemas"][name], "components": components}
    python, rust = Draft202012Validator(schema), jsonschema_rs.validator_for(schema)
    seen: set[tuple[bool, str]] = set()

    @settings(
        max_examples=1500,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=SHAPES[name])
    def check(body: dict[str, Any]) -> None:
        allowed = python.is_valid(body)
        assert rust.is_valid(body) == allowed, body
        outcome = _outcome(BODIES[name], body)
        seen.add((allowed, outcome))
        assert outcome in (("taken", "422") if allowed else ("400", "422")), (outcome, body)

    check()
    assert (True, "taken") in seen and (False, "400") in seen  # both sides were reached
