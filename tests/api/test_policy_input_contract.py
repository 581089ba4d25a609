"""The policy input is a contract: for every action the gateway decides, the input it sends
validates against the schema of its resource type (policies/schemas/, generated from the
Structs), and carries every field of that type. A rule written against the schema therefore
never reads a field the gateway does not send."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gateway.config import REPO_POLICY_DIR
from gateway.policy.inputs import PROPOSED_TYPES, RESOURCE_TYPES, schema_for
from tests.fixtures.gateway import Caller, decision_records, join
from tests.fixtures.policies import input_validator

SCHEMA = json.loads((REPO_POLICY_DIR / "schemas" / "input.json").read_text())
SCHEMAS = {kind.__struct_config__.tag: schema_for(kind, SCHEMA) for kind in RESOURCE_TYPES}
SCHEMAS["subject"] = schema_for("SubjectInput", SCHEMA)
SCHEMAS["marketplace_listings"] = schema_for("ListingsInput", SCHEMA)
VALIDATORS = {name: input_validator(schema) for name, schema in SCHEMAS.items()}
ACTIONS = json.loads((REPO_POLICY_DIR / "gateway" / "data.json").read_text())["actions"]
FIELDS = {kind.__struct_config__.tag: set(kind.__struct_fields__) for kind in RESOURCE_TYPES}
PROPOSED = {k.__struct_config__.tag: v.__struct_config__.tag for k, v in PROPOSED_TYPES.items()}
# Asked over /mcp, not /v1: tests/mcp_proxy/test_proxy.py validates those inputs the same way
# (mcp_server.run's: tests/mcp_proxy/test_stdio_policy.py).
NOT_ASKED_YET = {"tool.call", "resource.read", "prompt.get", "mcp_server.run"}


async def _every_action(client_as: Callable[..., Caller]) -> None:
    """One pass over the API that makes the gateway ask for every action it knows."""
    alice, bob, gina = client_as("alice"), client_as("bob"), client_as("gina", email="g@gmail.com")
    server = {"name": "s", "transport": "stdio", "command": "uvx", "env": ["TOKEN"]}
    mine = (await alice.post("/v1/mcp-servers", json=server)).json()["id"]
    await alice.get(f"/v1/mcp-servers/{mine}")
    await alice.patch(f"/v1/mcp-servers/{mine}", json={"name": "t"})
    await alice.put(f"/v1/mcp-servers/{mine}/credentials", json={"values": {"TOKEN": "x"}})
    await alice.get(f"/v1/mcp-servers/{mine}/launch")
    await alice.delete(f"/v1/mcp-servers/{mine}/credentials/TOKEN")
    await alice.get(f"/v1/mcp-servers/{mine}/tool-pins")
    await alice.post(f"/v1/mcp-servers/{mine}/tool-pins/x/approve", json={"fingerprint": "0" * 64})
    await alice.delete(f"/v1/mcp-servers/{mine}")
    await alice.get("/v1/approvals/apr_0")  # approval.read (a missing one is decided too)
    await alice.post("/v1/approvals/apr_0/allow")  # approval.decide
    await bob.get("/v1/mcp-servers/mcp_missing")  # a missing resource is decided too

    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await alice.get("/v1/enterprises")
    await alice.get(f"/v1/enterprises/{ent}")
    await alice.patch(f"/v1/enterprises/{ent}", json={"name": "Acme 2"})
    await alice.get(f"/v1/enterprises/{ent}/members")
    await join(alice, bob, ent, "member")
    await alice.put(f"/v1/enterprises/{ent}/members/bob", json={"role": "admin"})
    await alice.put(f"/v1/enterprises/{ent}/members/carol", json={"role": "member"})
    await alice.delete(f"/v1/enterprises/{ent}/members/carol")
    await alice.put(f"/v1/enterprises/{ent}/members/dave", json={"role": "member"})
    await client_as("dave").get("/v1/invitations")
    await client_as("dave").delete(f"/v1/invitations/{ent}")
    base = f"/v1/enterprise/mcp-servers?enterprise_id={ent}"
    emcp = (await alice.post(base, json={**server, "auto_enabled": True})).json()["id"]
    await alice.get(base)
    await alice.get(f"/v1/audit/decisions?enterprise_id={ent}")  # audit.read, as an owner
    await alice.get("/v1/policy/status")  # policy.read (refused: she is no auditor)
    await alice.get(f"/v1/enterprise/mcp-servers/{emcp}")
    await alice.patch(f"/v1/enterprise/mcp-servers/{emcp}", json={"auto_enabled": False})
    await alice.put(
        f"/v1/enterprise/mcp-servers/{emcp}/credentials", json={"values": {"TOKEN": "x"}}
    )
    await alice.delete(f"/v1/enterprise/mcp-servers/{emcp}/credentials/TOKEN")
    await alice.delete(f"/v1/enterprise/mcp-servers/{emcp}")
    await bob.delete(f"/v1/enterprises/{ent}/members/bob")

    await gina.get("/v1/marketplace/servers?limit=3")
    await gina.get("/v1/marketplace/servers/time")
    await gina.post("/v1/marketplace/servers/time/install")
    await gina.get("/v0.1/servers?limit=3")  # registry.read
    await gina.get("/v0.1/servers/io.github.mcp-policy-gateway.catalog%2Fno-such/versions")
    await alice.delete(f"/v1/enterprises/{ent}")


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_every_decision_input_validates_against_its_schema(
    client_as: Callable[..., Caller],
) -> None:
    await _every_action(client_as)
    records = await decision_records(client_as("alice").client)
    asked: set[str] = set()
    for record in records:
        doc: dict[str, Any] = record.input
        if record.path == "gateway/authz/decision":
            kind = doc["resource"]["type"]
            VALIDATORS[kind].validate(doc)
            assert set(doc["resource"]) - {"type"} == FIELDS[kind], record.action
            if "proposed" in doc:
                proposed = doc["proposed"]["type"]
                assert proposed == PROPOSED.get(kind, kind)
                assert set(doc["proposed"]) - {"type"} == FIELDS[proposed]
            asked.add(doc["action"])
        elif record.path == "gateway/marketplace/listings":
            VALIDATORS["marketplace_listings"].validate(doc)
        else:
            VALIDATORS["subject"].validate(doc)
    assert asked == set(ACTIONS) - NOT_ASKED_YET


def test_every_resource_type_has_a_schema() -> None:
    defined = set(SCHEMA["$defs"])
    assert {f"{kind.__name__}Input" for kind in RESOURCE_TYPES} <= defined
    assert {entry["resource"] for entry in ACTIONS.values()} <= set(FIELDS)
