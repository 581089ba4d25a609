"""The OpenAPI document is a contract apps build on: it validates, its snapshot in docs/ is the
live one (so a contract change shows up in review), every /v1 operation documents its error
answers and the bearer scheme, and component names are readable (docs/adr/0048)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from litestar import Litestar
from litestar.testing import AsyncTestClient
from openapi_spec_validator import validate

from gateway.api.openapi.answers import AUTHENTICATED
from gateway.app import openapi_document
from gateway.config import Settings
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller

SNAPSHOT = Path(__file__).parents[2] / "docs" / "openapi.json"
REGENERATE = ".venv/bin/gateway openapi --write docs/openapi.json"
# Probes, and the RFC 9728 metadata a client reads before it has a token.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
}
# The MCP Registry API: anonymous callers or a bearer token (docs/registry.md).
TOKEN_OPTIONAL = {
    "/v0.1/servers",
    "/v0.1/servers/{namespace}/{name}/versions",
    "/v0.1/servers/{namespace}/{name}/versions/{version}",
}
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    return openapi_document()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_the_document_is_valid_openapi(live: dict[str, Any]) -> None:
    validate(live)


def test_the_snapshot_in_docs_is_the_live_document(live: dict[str, Any]) -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    assert snapshot == live, (
        f"docs/openapi.json is not the document the gateway serves: if the change to the API "
        f"contract is meant, regenerate it with `{REGENERATE}` and commit it"
    )


async def test_the_served_document_is_the_one_checked(start_gateway: AppFactory) -> None:
    client = await start_gateway(Settings(jwt_secret=JWT_SECRET))
    served = await client.get("/schema/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi_document()


def test_every_v1_operation_documents_its_error_answers(live: dict[str, Any]) -> None:
    missing = {
        f"{method.upper()} {path}": sorted(
            status for status in map(str, AUTHENTICATED) if status not in op["responses"]
        )
        for path, method, op in _operations(live)
        if path.startswith("/v1/")
    }
    assert not {op: statuses for op, statuses in missing.items() if statuses}
    for path, method, op in _operations(live):
        if not path.startswith("/v1/"):
            continue
        responses = op["responses"]
        where = f"{method.upper()} {path}"
        denial = responses["403"]["content"]["application/json"]["schema"]
        assert denial == {"$ref": "#/components/schemas/DenialBody"}, where
        assert "WWW-Authenticate" in responses["401"]["headers"], where
        assert responses["503"]["headers"]["Retry-After"]["required"], where
        assert responses["429"]["headers"]["Retry-After"]["required"], where
    member_put = live["paths"]["/v1/enterprises/{enterprise_id}/members/{user_id}"]["put"]
    assert {"200", "202"} <= set(member_put["responses"])


def test_the_error_bodies_are_named_components(live: dict[str, Any]) -> None:
    schemas = live["components"]["schemas"]
    assert set(schemas["ErrorBody"]["required"]) == {"status_code", "detail"}
    assert set(schemas["DenialBody"]["required"]) == {
        "status_code",
        "detail",
        "reasons",
        "decision_id",
    }
    assert schemas["DenialBody"]["properties"]["reasons"]["items"] == {
        "$ref": "#/components/schemas/Reason"
    }


def test_bearer_is_required_everywhere_but_the_probes(live: dict[str, Any]) -> None:
    assert live["security"] == [{"bearer": []}]
    scheme = live["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    exempt = {path for path, _, op in _operations(live) if op.get("security") == []}
    assert exempt == PUBLIC
    optional = {
        path for path, _, op in _operations(live) if op.get("security") == [{}, {"bearer": []}]
    }
    assert optional == TOKEN_OPTIONAL


def test_component_names_are_readable(live: dict[str, Any]) -> None:
    names = set(live["components"]["schemas"])
    assert not {name for name in names if not name.isidentifier()}
    assert {
        "ServerPage",
        "EnterprisePage",
        "EnterpriseServerPage",
        "MemberPage",
        "InvitationPage",
        "ListingPage",
        "DecisionPage",
        "MCPServerConfig",
        "EnterpriseMCPServer",
    } <= names


async def test_a_number_is_not_a_boolean_in_a_body(
    start_gateway: AppFactory,
) -> None:
    """The document says `boolean`, and the gateway refuses what is not (ADR 0029)."""
    client: AsyncTestClient[Litestar] = await start_gateway(Settings(jwt_secret=JWT_SECRET))
    owner = caller(client, "alice")
    created = await owner.post("/v1/enterprises", json={"name": "Acme"})
    assert created.status_code == 201
    ent = created.json()["id"]
    refused = await owner.patch(f"/v1/enterprises/{ent}", json={"restrict_installs_to_approved": 0})
    assert refused.status_code == 400
    assert "restrict_installs_to_approved" in refused.text
    after = await owner.get(f"/v1/enterprises/{ent}")
    assert after.json()["restrict_installs_to_approved"] is False
    kept = openapi_document()["components"]["schemas"]["EnterprisePatch"]["properties"]
    assert "boolean" in json.dumps(kept["restrict_installs_to_approved"])


async def test_options_allows_exactly_the_documented_methods(start_gateway: AppFactory) -> None:
    """Litestar 2 names only the first handler's methods on a shared path (litestar#4169)."""
    client = await start_gateway(Settings(jwt_secret=JWT_SECRET))
    wrong = {}
    for path, item in openapi_document()["paths"].items():
        concrete = path.replace("{", "").replace("}", "")  # any value fits a str parameter
        allow = (await client.options(concrete)).headers.get("allow", "")
        documented = {method.upper() for method in item if method in METHODS} | {"OPTIONS"}
        if {m.strip() for m in allow.split(",")} != documented:
            wrong[path] = (allow, sorted(documented))
    assert not wrong


def _media(live: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, method, op in _operations(live):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            found.append((f"{method.upper()} {path} request", body))
        for status, answer in op["responses"].items():
            media = answer.get("content", {}).get("application/json")
            if media:
                found.append((f"{method.upper()} {path} {status}", media))
    return found


def test_every_example_is_valid_against_its_schema(live: dict[str, Any]) -> None:
    """The examples show real payloads: each must be what its schema allows."""
    checked, wrong = 0, []
    for where, media in _media(live):
        schema = {**media["schema"], "components": live["components"]}
        validator = Draft202012Validator(schema)
        for name, example in media.get("examples", {}).items():
            checked += 1
            errors = [e.message for e in validator.iter_errors(example["value"])]
            if errors:
                wrong.append((where, name, errors[:2]))
    assert not wrong
    assert checked >= 12  # the main operations have them: creates, view, a denial, 400/422


def test_the_main_operations_show_a_personal_server_an_enterprise_server_and_a_denial(
    live: dict[str, Any],
) -> None:
    shown = json.dumps([media.get("examples", {}) for _, media in _media(live)], sort_keys=True)
    assert '"source": "personal"' in shown
    assert '"source": "enterprise"' in shown
    assert '"reasons": [{"code": "enterprise_managed"' in shown
