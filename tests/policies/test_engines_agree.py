"""Both engines, one behaviour: the same generated inputs, for every entrypoint, give the
same answer on the embedded engine (rego-cpp) and on a real OPA serving the same files. A
difference is a bug to fix in the policy (or a documented engine gap), never to skip."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import REPO_POLICY_DIR
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.policy.engine import (
    ACCOUNTS_PROVISION,
    AUTHZ_DECISION,
    LOG_MASK,
    MARKETPLACE_LISTINGS,
    SCOPE_VIEW,
    UNDEFINED,
)

pytestmark = pytest.mark.opa

TABLE = msgspec.json.decode((REPO_POLICY_DIR / "gateway" / "data.json").read_bytes())["actions"]
ACTIONS = sorted(TABLE)
USERS = ["alice", "bob", "carol"]
ENTS = ["ent_1", "ent_2"]
ROLES = ["owner", "admin", "member"]
nullable = st.none

membership = st.fixed_dictionaries(
    {
        "role": st.sampled_from(ROLES),
        "kind": st.sampled_from(["organization", "personal"]),
        "restrict_installs_to_approved": st.booleans(),
    }
)
subject = st.fixed_dictionaries(
    {
        "id": st.sampled_from(USERS),
        "email": st.sampled_from(["a@gmail.com", "b@acme.io", "broken"]),
        "name": st.none(),
        "roles": st.lists(st.sampled_from(["auditor", "other"]), max_size=1),
        "authenticated": st.booleans(),
        "auth_enabled": st.sampled_from([True, True, True, False]),
        "memberships": st.dictionaries(st.sampled_from(ENTS), membership, max_size=2),
    }
)
listing_facts = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["time", "github"]),
        "exists": st.booleans(),
        "approved_by": st.lists(st.sampled_from(ENTS), unique=True),
        "transport": st.sampled_from(["stdio", "sse"]),
        "command": st.sampled_from(["npx", "uvx", None]),
        "args": st.just(["-y", "x"]),
        "url": st.none(),
        "headers": st.just({}),
        "env": st.lists(st.sampled_from(["A", "B"]), unique=True),
    }
)
server = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["mcp_server", "enterprise_mcp_server"]),
        "exists": st.booleans(),
        "id": st.sampled_from(["mcp_1", "emcp_1", None]),
        "source": st.sampled_from(["personal", "enterprise", None]),
        "user_id": st.sampled_from([*USERS, None]),
        "enterprise_id": st.sampled_from([*ENTS, None]),
        "auto_enabled": st.sampled_from([True, False, None]),
        "created_by": st.sampled_from([*USERS, None]),
        "name": st.just("s"),
        "description": st.just(""),
        "transport": st.sampled_from(["stdio", "sse", "streamable_http"]),
        "command": st.sampled_from(["npx", "uvx", "bash", None]),
        "args": st.sampled_from([[], ["-y", "x"]]),
        "url": st.sampled_from([None, "https://mcp.example.com/mcp"]),
        "headers": st.just({}),
        "env": st.lists(st.sampled_from(["A", "B"]), unique=True),
        "enabled": st.booleans(),
        "marketplace_listing_id": st.sampled_from([None, "time", "github"]),
        "credentials_set": st.just([]),
        "created_at": st.none(),
        "updated_at": st.none(),
        "listing": st.one_of(st.none(), listing_facts),
        # A tool with its pin (docs/adr/0057-tool-integrity.md): changed or not, first sight.
        "tool": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["read", "delete_file"]),
                    "pinned": st.sampled_from([None, "aa", "bb"]),
                    "fingerprint": st.sampled_from(["aa", "bb"]),
                    "changed": st.sampled_from([[], ["description"], ["name", "annotations"]]),
                    "pinned_by": st.sampled_from([None, "alice"]),
                    "approval": st.none(),
                }
            ),
        ),
    }
)
member = st.fixed_dictionaries(
    {
        "type": st.just("enterprise_member"),
        "exists": st.booleans(),
        "enterprise_id": st.sampled_from(ENTS),
        "enterprise_kind": st.sampled_from(["organization", "personal"]),
        "user_id": st.sampled_from(USERS),
        "role": st.sampled_from([*ROLES, None]),
        "status": st.sampled_from(["active", "invited", None]),
        "owner_count": st.integers(0, 3),
        "invited_by": st.none(),
    }
)
other = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("enterprise"),
            "exists": st.booleans(),
            "id": st.sampled_from([*ENTS, None]),
            "enterprise_id": st.sampled_from([*ENTS, None]),
            "name": st.just("Acme"),
            "kind": st.sampled_from(["organization", "personal"]),
            "restrict_installs_to_approved": st.booleans(),
            "created_at": st.none(),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("invitation"),
            "exists": st.booleans(),
            "enterprise_id": st.sampled_from(ENTS),
            "user_id": st.sampled_from(USERS),
            "role": st.sampled_from(ROLES),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("approval"),
            "exists": st.booleans(),
            "id": st.sampled_from(["apr_1", None]),
            "state": st.sampled_from(["pending", "allowed", "refused", "used"]),
            "expired": st.booleans(),
            "user_id": st.sampled_from(USERS),
            "server_id": st.just("mcp_1"),
            "enterprise_id": st.sampled_from([*ENTS, None]),
            "tool": st.just("delete_file"),
            "arguments_sha256": st.just("00"),
            "approver_ids": st.lists(st.sampled_from(USERS), unique=True, max_size=2),
            "approver_roles": st.lists(st.sampled_from(ROLES), unique=True, max_size=2),
            "expires_at": st.none(),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("audit_log"),
            "exists": st.just(True),
            "enterprise_id": st.sampled_from([*ENTS, None]),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("marketplace_listing"),
            "exists": st.booleans(),
            "id": st.sampled_from(["time", "github"]),
            "approved_by": st.lists(st.sampled_from(ENTS), unique=True),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("registry_entry"),
            "exists": st.booleans(),
            "id": st.sampled_from(["time", "mcp_1", "emcp_1", "gateway"]),
            "name": st.just("io.github.mcp-policy-gateway.catalog/time"),
            "source": st.sampled_from(["catalog", "personal", "enterprise", "gateway"]),
            "listing_id": st.sampled_from(["time", None]),
            "approved_by": st.lists(st.sampled_from(ENTS), unique=True),
            "user_id": st.sampled_from([*USERS, None]),
            "enterprise_id": st.sampled_from([*ENTS, None]),
        }
    ),
)
request = st.just({"method": "POST", "path": "/v1/x", "req_id": "r", "env_vars": None})


@st.composite
def authz_input(draw: st.DrawFn) -> dict[str, Any]:
    resource = draw(st.one_of(server, member, other))
    # Mostly an action of the resource's own type (where grants apply), sometimes any.
    fitting = [a for a in ACTIONS if TABLE[a]["resource"] == resource["type"]]
    any_action = st.sampled_from([*ACTIONS, "nope.nothing"])
    doc: dict[str, Any] = {
        "action": draw(st.one_of(st.sampled_from(fitting), any_action) if fitting else any_action),
        "subject": draw(subject),
        "resource": resource,
        "request": draw(request),
        "context": {"enterprise_id": None},
    }
    if draw(st.booleans()):
        proposed = draw(server if resource["type"] != "enterprise_member" else member)
        doc["proposed"] = proposed
    return doc


@st.composite
def listings_input(draw: st.DrawFn) -> dict[str, Any]:
    items = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "resource": st.fixed_dictionaries(
                        {
                            "type": st.just("marketplace_listing"),
                            "id": st.sampled_from(["time", "github", "fetch"]),
                            "approved_by": st.lists(st.sampled_from(ENTS), unique=True),
                        }
                    ),
                    "proposed": server,
                }
            ),
            max_size=3,
            unique_by=lambda item: item["resource"]["id"],
        )
    )
    return {"subject": draw(subject), "request": draw(request), "listings": items}


def _normal(value: Any) -> Any:
    """Sets come back as arrays in whatever order each engine keeps them: sort them."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        return (
            sorted(items, key=lambda v: msgspec.json.encode(v))
            if any(isinstance(v, dict) for v in items)
            else items
        )
    return value


@pytest.fixture(scope="module")
def engines(opa_url: str) -> tuple[EmbeddedRegoEngine, httpx.Client]:
    with httpx.Client(base_url=opa_url, timeout=5) as client:
        yield EmbeddedRegoEngine(REPO_POLICY_DIR), client  # type: ignore[misc]


def _agree(
    engines: tuple[EmbeddedRegoEngine, httpx.Client], entrypoint: str, doc: dict[str, Any]
) -> None:
    embedded, opa = engines
    raw = msgspec.json.encode(doc)
    ours = embedded.evaluate_sync(entrypoint, raw)
    answer = opa.post(f"/v1/data/{entrypoint}", content=b'{"input":' + raw + b"}").json()
    theirs = answer.get("result", UNDEFINED)
    assert (ours is UNDEFINED) == (theirs is UNDEFINED), (entrypoint, doc, ours, theirs)
    if ours is not UNDEFINED:
        assert _normal(ours) == _normal(theirs), (entrypoint, doc)


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(doc=authz_input())
def test_authz_decisions_agree(
    engines: tuple[EmbeddedRegoEngine, httpx.Client], doc: dict[str, Any]
) -> None:
    _agree(engines, AUTHZ_DECISION, doc)


@SETTINGS
@given(who=subject)
def test_scope_and_provisioning_agree(
    engines: tuple[EmbeddedRegoEngine, httpx.Client], who: dict[str, Any]
) -> None:
    doc = {
        "subject": who,
        "request": {"method": "GET", "path": "/", "req_id": "r", "env_vars": None},
    }
    _agree(engines, SCOPE_VIEW, doc)
    _agree(engines, ACCOUNTS_PROVISION, doc)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=listings_input())
def test_marketplace_pages_agree(
    engines: tuple[EmbeddedRegoEngine, httpx.Client], doc: dict[str, Any]
) -> None:
    _agree(engines, MARKETPLACE_LISTINGS, doc)


# What users type where a ${VAR} belongs, and what they type legitimately.
typed = st.sampled_from(
    ["ghp_literal", "${TOKEN}", "Bearer ${TOKEN}", "Bearer abc", "token x", "", "a/b~c", "é"]
)
launch_fields = st.fixed_dictionaries(
    {
        "type": st.just("mcp_server"),
        "headers": st.dictionaries(
            st.sampled_from(["Authorization", "X-Api-Key", "Accept", "a/b~token", "Cookie"]),
            typed,
            max_size=3,
        ),
        "args": st.lists(
            st.one_of(typed, st.sampled_from(["--token", "--api-key=k", "--port", "-v", "--x=1"])),
            max_size=5,
        ),
        "url": st.sampled_from(
            [
                None,
                "https://mcp.example.com/mcp",
                "https://u:p@mcp.example.com/mcp?region=eu&access_token=abc",
                "http://h/?sig=1&x=2#f",
            ]
        ),
    }
)


@SETTINGS
@given(
    resource=launch_fields,
    proposed=st.one_of(st.none(), launch_fields),
    request_extra=st.dictionaries(st.sampled_from(["token", "Password", "x"]), typed, max_size=2),
)
def test_masks_agree(
    engines: tuple[EmbeddedRegoEngine, httpx.Client],
    resource: dict[str, Any],
    proposed: dict[str, Any] | None,
    request_extra: dict[str, str],
) -> None:
    doc: dict[str, Any] = {
        "action": "mcp_server.create",
        "subject": {"id": "alice"},
        "resource": resource,
        "request": {"method": "POST", "req_id": "r", **request_extra},
    }
    if proposed is not None:
        doc["proposed"] = proposed
    _agree(engines, LOG_MASK, {"path": AUTHZ_DECISION, "input": doc})
