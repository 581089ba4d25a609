"""Every operation of the gateway's own OpenAPI document, fuzzed by schemathesis in-process
(its ASGI client on the memory stores), as an authenticated caller who owns an enterprise, a
personal server and an approved enterprise server: no request may get a 5xx, and every
documented response must match its schema.

Bounded and reproducible: FUZZ_EXAMPLES examples per operation (default 50), derandomized.
docs/testing.md says how to run it longer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.config._checks import (
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
    PositiveDataAcceptanceConfig,
)
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from gateway.app import create_app
from gateway.config import Settings
from tests.fixtures.gateway import JWT_SECRET, token_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
FUZZER = "fuzzer"
OTHER = "fuzz-member"
HEADERS = {"Authorization": f"Bearer {token_for(FUZZER)}"}

# The rate limit is a per-subject counter: one fuzzing subject would reach it and see 429s
# that say nothing about the operation fuzzed.
app = create_app(Settings(jwt_secret=JWT_SECRET, rate_limit_requests=1_000_000))
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
# The caller's token is sent with every request (HEADERS): generating the bearer scheme's
# `Authorization` too would make "no token" cases that still carry one.
schema.config.generation.update(
    max_examples=EXAMPLES,
    deterministic=True,
    modes=["positive", "negative"],
    with_security_parameters=False,
)

# A request the document calls valid may still get a 412 (an If-Match naming another version)
# or a 422 (a rule the document cannot state: between fields, against stored state, a cursor
# the gateway did not issue; docs/api-contract.md). Never a 400: that is what the document
# refuses, so a 400 to a schema-valid request is a gap in the document.
schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=[*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "412", "422"]
)

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
    allow_header_conformance,
]


# --- a world to fuzz in: ids that exist, so requests reach past the 404 -----------------------

WORLD: dict[str, str] = {}


def _seed() -> dict[str, str]:
    """A fresh enterprise owned by the fuzzer, a member in it, a pending invitee, a personal
    server and an approved server: created anew for each operation, because fuzzed deletes
    and updates change them."""
    # schemathesis's own ASGI client: the app's lifespan is started once, by schemathesis.
    with get_client(app) as client:

        def call(method: str, url: str, user: str = FUZZER, **kw: Any) -> Any:
            auth = {"Authorization": f"Bearer {token_for(user)}"}
            answer = client.request(method, url, headers=auth, **kw)
            assert answer.status_code < 300, (method, url, answer.text)
            return answer.json() if answer.content else None

        ent = call("POST", "/v1/enterprises", json={"name": "Fuzz Co"})["id"]
        call("PUT", f"/v1/enterprises/{ent}/members/{OTHER}", json={"role": "member"})
        call("POST", f"/v1/invitations/{ent}/accept", user=OTHER)
        call("PUT", f"/v1/enterprises/{ent}/members/fuzz-invitee", json={"role": "admin"})
        server = call(
            "POST",
            "/v1/mcp-servers",
            json={
                "name": "files",
                "transport": "stdio",
                "command": "uvx",
                "args": ["mcp-server-files"],
                "env": ["API_KEY"],
            },
        )["id"]
        approved = call(
            "POST",
            f"/v1/enterprise/mcp-servers?enterprise_id={ent}",
            json={
                "name": "tools",
                "transport": "streamable_http",
                "url": "https://mcp.example.com/mcp",
                "env": ["API_KEY"],
            },
        )["id"]
    return {
        "enterprise_id": ent,
        "user_id": OTHER,
        "env_var": "API_KEY",
        "server_id": server,
        "approved_id": approved,
        "listing_id": "time",
    }


def _valid(operation: Any, location: str, name: str, value: Any) -> bool:
    schemas = [
        p.definition.get("schema", {}) for p in operation.iter_parameters() if p.name == name
    ]
    return any(
        p.location == location for p in operation.iter_parameters() if p.name == name
    ) and all(Draft202012Validator(schema).is_valid(value) for schema in schemas)


def _with_world(operation: Any, location: str, values: dict[str, Any] | None) -> Any:
    """Half the time, the seeded world's ids in place of generated ones; only where the
    generated value was valid, so a case meant to be invalid stays invalid."""
    if not values:
        return st.just(values)
    known = dict(WORLD)
    if operation.path.startswith("/v1/enterprise/mcp-servers"):
        known["server_id"] = known["approved_id"]
    real = {
        name: known[name] if name in known and _valid(operation, location, name, value) else value
        for name, value in values.items()
    }
    return st.sampled_from([values, real])


@schema.hook
def flatmap_path_parameters(ctx: Any, parameters: dict[str, Any] | None) -> Any:
    return _with_world(ctx.operation, "path", parameters)


@schema.hook
def flatmap_query(ctx: Any, query: dict[str, Any] | None) -> Any:
    """`?enterprise_id=` picks the enterprise of /v1/enterprise/mcp-servers and the log."""
    return _with_world(ctx.operation, "query", query)


@pytest.fixture(autouse=True, scope="module")
def app_stops() -> Iterator[None]:
    """schemathesis starts the app's lifespan once and keeps it to the end of the process:
    stop it with this module, so its background tasks do not outlive the fuzzing."""
    yield
    shutdown_lifespans()


@pytest.fixture(autouse=True)
def world() -> Iterator[None]:
    WORLD.clear()
    WORLD.update(_seed())
    yield


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_errors_or_breaks_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=HEADERS, checks=CHECKS)
