"""The marketplace page is decided by its Rego rule and nothing else (issue 20).

`data.gateway.marketplace.listings` gives each listing the decision its install would get.
OPA evaluates a page whole; the embedded engine asks the same rule one listing at a time
(rego-cpp's `with` costs time proportional to the input, so a whole page is O(n²) there).
That is sound only because a page's answer is the union of the answers for its listings one
at a time: held here on both engines, also for a policy whose `deny` reads the rest of the
page and the context. And a listing's `allowed`/`reason` is the install's decision, on both
engines, down to the `context` the install sends.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from gateway.config import REPO_POLICY_DIR, Settings
from gateway.errors import BackendUnavailable
from gateway.policy.embedded import CompiledPolicy, compile_policy
from gateway.policy.engine import MARKETPLACE_LISTINGS, UNDEFINED
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller
from tests.fixtures.opa_server import OPAServer
from tests.policies.test_engines_agree import _normal, listings_input

# A `deny` that shows what a marketplace.install decision sees besides its listing: the
# context, and the rest of the page. An install has no page, so only the context is shown
# on the install test's policy.
SEES_CONTEXT = """package gateway.authz

deny contains {"code": "seen", "message": json.marshal(input.context)} if {
	input.action == "marketplace.install"
}
"""
SEES_THE_PAGE = """package gateway.authz

deny contains {"code": "page", "message": concat(",", ids)} if {
	input.action == "marketplace.install"
	ids := sort([item.resource.id | some item in input.listings])
}
"""
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _with_modules(root: Path, **modules: str) -> Path:
    """The shipped policies (tests left out) and `modules` in gateway/authz/."""
    shutil.copytree(REPO_POLICY_DIR, root, ignore=shutil.ignore_patterns("*_test.rego"))
    for name, text in modules.items():
        (root / "gateway" / "authz" / f"{name}.rego").write_text(text)
    return root


@pytest.fixture(scope="module")
def probing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _with_modules(
        tmp_path_factory.mktemp("probing") / "policies",
        sees_context=SEES_CONTEXT,
        sees_the_page=SEES_THE_PAGE,
    )


@pytest.fixture(scope="module")
def probing_opa(probing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = OPAServer(probing, tmp_path_factory.mktemp("opa"))
    try:
        yield server.url
    finally:
        server.stop()


def _one_at_a_time(doc: dict[str, Any]) -> list[bytes]:
    return [msgspec.json.encode({**doc, "listings": [item]}) for item in doc["listings"]]


def _union(answers: list[Any]) -> dict[str, Any]:
    decisions: dict[str, Any] = {}
    for answer in answers:
        decisions.update(answer["decisions"])
    return {"decisions": decisions}


def _embedded_holds_the_union(compiled: CompiledPolicy, doc: dict[str, Any]) -> Any:
    raw = msgspec.json.encode(doc)
    whole = compiled.query(MARKETPLACE_LISTINGS, raw)  # the rule on the whole page
    assert whole is not UNDEFINED
    if doc["listings"]:
        parts = [compiled.query(MARKETPLACE_LISTINGS, one) for one in _one_at_a_time(doc)]
        assert _normal(_union(parts)) == _normal(whole), doc
    assert _normal(compiled.evaluate(MARKETPLACE_LISTINGS, raw)) == _normal(whole), doc
    return whole


@pytest.fixture(scope="module")
def shipped() -> CompiledPolicy:
    return compile_policy(REPO_POLICY_DIR)


@pytest.fixture(scope="module")
def probed(probing: Path) -> CompiledPolicy:
    return compile_policy(probing)


@EXAMPLES
@given(doc=listings_input())
def test_a_page_is_the_union_of_its_listings_on_the_embedded_engine(
    shipped: CompiledPolicy, probed: CompiledPolicy, doc: dict[str, Any]
) -> None:
    _embedded_holds_the_union(shipped, doc)
    _embedded_holds_the_union(probed, doc)


@pytest.mark.opa
@EXAMPLES
@given(doc=listings_input())
def test_a_page_is_the_union_of_its_listings_on_opa_and_the_engines_agree(
    probed: CompiledPolicy, probing_opa: str, doc: dict[str, Any]
) -> None:
    def opa(raw: bytes) -> Any:
        answer = httpx.post(
            f"{probing_opa}/v1/data/{MARKETPLACE_LISTINGS}",
            content=b'{"input":' + raw + b"}",
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]

    whole = opa(msgspec.json.encode(doc))
    if doc["listings"]:
        assert _normal(_union([opa(one) for one in _one_at_a_time(doc)])) == _normal(whole)
    assert _normal(_embedded_holds_the_union(probed, doc)) == _normal(whole)


async def _page_and_installs(start_gateway: AppFactory, settings: Settings) -> list[Any]:
    """The first listings of the page as alice sees them, each with its install's answer."""
    alice = caller(await start_gateway(settings), "alice")
    page = await alice.get("/v1/marketplace/servers?limit=4")
    assert page.status_code == 200, page.text
    seen = []
    for item in page.json()["items"]:
        install = await alice.post(f"/v1/marketplace/servers/{item['id']}/install")
        assert install.status_code == 403, install.text
        # The page shows the reason the install gets, context and all.
        assert item["allowed"] is False and item["reason"] == install.json()["reasons"][0]
        seen.append((item["id"], item["reason"]))
    assert len(seen) == 4
    return seen


@pytest.mark.opa
async def test_the_page_shows_the_install_decision_on_both_engines_alike(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory
) -> None:
    root = _with_modules(tmp_path / "policies", sees_context=SEES_CONTEXT)
    embedded = await _page_and_installs(
        start_gateway, Settings(jwt_secret=JWT_SECRET, policy_dir=str(root))
    )
    on_opa = await _page_and_installs(
        start_gateway, Settings(jwt_secret=JWT_SECRET, opa_url=opa_server(root).url)
    )
    assert embedded == on_opa
    assert embedded[0][1] == {"code": "seen", "message": '{"counts":{},"enterprise_id":null}'}


def _page(*items: tuple[str, dict[str, Any]]) -> bytes:
    who = {"id": "bob", "email": "bob@acme.io", "name": None, "roles": [],
           "authenticated": True, "auth_enabled": True,
           "memberships": {"ent_1": {"role": "member", "kind": "organization",
                                     "restrict_installs_to_approved": True}}}  # fmt: skip
    return msgspec.json.encode(
        {
            "subject": who,
            "request": {"method": "GET", "path": "/v1/marketplace/servers", "req_id": "r"},
            "context": {"enterprise_id": None, "counts": {}},  # what the gateway sends
            "listings": [
                {"resource": {"type": "marketplace_listing", "id": lid, "approved_by": []},
                 "proposed": proposed}
                for lid, proposed in items
            ],
        }
    )  # fmt: skip


def _proposed(listing: dict[str, Any] | None) -> dict[str, Any]:
    """A personal server as an install would propose it."""
    return {"type": "mcp_server", "exists": True, "id": None, "source": "personal",
            "user_id": "bob", "enterprise_id": None, "auto_enabled": None, "created_by": None,
            "name": "time", "description": "", "transport": "stdio", "command": "uvx",
            "args": ["mcp-server-time"], "url": None, "headers": {}, "env": [],
            "enabled": True, "marketplace_listing_id": None, "credentials_set": [],
            "created_at": None, "updated_at": None, "listing": listing}  # fmt: skip


def test_a_listing_twice_on_a_page_is_one_decision_or_an_error(shipped: CompiledPolicy) -> None:
    custom = _proposed(None)  # refused: custom servers are not allowed under a restriction
    same = shipped.evaluate(MARKETPLACE_LISTINGS, _page(("x", custom), ("x", custom)))
    assert same == shipped.query(MARKETPLACE_LISTINGS, _page(("x", custom)))
    # Two different decisions for one listing: OPA answers the page with a conflict error.
    unrestricted = {**custom, "source": "enterprise"}
    with pytest.raises(BackendUnavailable, match="two different decisions"):
        shipped.evaluate(MARKETPLACE_LISTINGS, _page(("x", custom), ("x", unrestricted)))


def test_a_rule_that_is_not_per_listing_is_asked_whole(tmp_path: Path) -> None:
    root = _with_modules(tmp_path / "policies")
    (root / "gateway" / "marketplace" / "listings.rego").write_text(
        "package gateway.marketplace\n\n"
        'listings := {"decisions": {}, "page_size": count(input.listings)}\n'
    )
    compiled = compile_policy(root)
    page = _page(("a", _proposed(None)), ("b", _proposed(None)))
    assert compiled.evaluate(MARKETPLACE_LISTINGS, page) == {"decisions": {}, "page_size": 2}


def test_the_probe_policies_see_what_they_should(probed: CompiledPolicy) -> None:
    """The probes bite: the install context and an empty page, on every listing."""
    decisions = probed.evaluate(
        MARKETPLACE_LISTINGS, _page(("a", _proposed(None)), ("b", _proposed(None)))
    )["decisions"]
    for decision in decisions.values():
        assert {"code": "page", "message": ""} in decision["reasons"]
        assert {
            "code": "seen",
            "message": '{"counts":{},"enterprise_id":null}',
        } in decision["reasons"]
