"""/console over HTTP (the browser test is test_console_browser.py): the pasted token becomes
an HttpOnly, SameSite=Strict cookie; a cross-site form is refused; the policy decides what each
viewer sees (auditor: everything; owner: their enterprise; member: 403); the charts are SVG
drawn on the server; a replay lists what a candidate would flip; nothing runs a script."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest_asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.api.deps import runtime_of
from gateway.config import REPO_POLICY_DIR, Settings
from gateway.policy.embedded import compile_policy
from tests.console.conftest import MANAGED, candidates
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller, join, token_for

ORIGIN = "http://testserver.local"


@pytest_asyncio.fixture
async def console(start_gateway: AppFactory, tmp_path: Path) -> AsyncTestClient[Litestar]:
    settings = Settings(jwt_secret=JWT_SECRET, console_candidates_dir=str(candidates(tmp_path)))
    return await start_gateway(settings)


async def _denial(client: AsyncTestClient[Litestar]) -> tuple[str, str]:
    alice, bob = caller(client, "alice"), caller(client, "bob")
    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(alice, bob, ent, "member")
    created = await alice.post(
        f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json={**MANAGED, "auto_enabled": True}
    )
    server = created.json()["id"]
    assert (await bob.get(f"/v1/mcp-servers/{server}")).status_code == 200
    denied = await bob.patch(f"/v1/mcp-servers/{server}", json={"name": "mine"})
    assert denied.status_code == 403
    return ent, denied.headers["x-decision-id"]


async def _log_in(client: AsyncTestClient[Litestar], user: str, **claims: object) -> None:
    token = token_for(user, **claims)  # type: ignore[arg-type]
    answer = await client.post(
        follow_redirects=False,
        url="/console/login",
        data={"token": token},
        headers={"Origin": ORIGIN},
    )
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie


async def test_without_a_session_the_console_sends_you_to_log_in(
    console: AsyncTestClient[Litestar],
) -> None:
    answer = await console.get(follow_redirects=False, url="/console")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    form = await console.get(follow_redirects=False, url="/console/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    csp = form.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp  # no script runs at all
    bad = await console.post(
        follow_redirects=False,
        url="/console/login",
        data={"token": "nope"},
        headers={"Origin": ORIGIN},
    )
    assert bad.status_code == 401 and "refused" in bad.text


async def test_a_cross_site_form_is_refused(console: AsyncTestClient[Litestar]) -> None:
    token = token_for("ann", roles=("auditor",))
    for headers in ({"Origin": "https://evil.example"}, {}, {"Sec-Fetch-Site": "cross-site",
                                                            "Origin": ORIGIN}):  # fmt: skip
        answer = await console.post(
            follow_redirects=False, url="/console/login", data={"token": token}, headers=headers
        )
        assert answer.status_code == 403, headers
        assert "set-cookie" not in answer.headers


async def test_the_policy_decides_what_each_viewer_sees(
    console: AsyncTestClient[Litestar],
) -> None:
    ent, denial = await _denial(console)
    # bob, a member: refused, with the policy's reasons.
    await _log_in(console, "bob")
    refused = await console.get(follow_redirects=False, url=f"/console?enterprise_id={ent}")
    assert refused.status_code == 403 and "role_required" in refused.text
    # alice, the owner: her enterprise, named.
    await _log_in(console, "alice")
    assert (
        await console.get(follow_redirects=False, url="/console")
    ).status_code == 403  # the whole log: auditors'
    mine = await console.get(
        follow_redirects=False, url=f"/console?enterprise_id={ent}&user_id=bob&allowed=false"
    )
    assert mine.status_code == 200 and denial in mine.text and "enterprise_managed" in mine.text
    # ann, an auditor: everything, one decision in full.
    await _log_in(console, "ann", roles=("auditor",))
    found = await console.get(
        follow_redirects=False, url="/console?user_id=bob&allowed=false&since=1h"
    )
    assert found.status_code == 200 and denial in found.text
    one = await console.get(follow_redirects=False, url=f"/console/decisions/{denial}")
    assert one.status_code == 200
    for shown in ("enterprise_managed", "policy revision", "seq ", "hashes to its hash",
                  "&#34;name&#34;: &#34;mine&#34;"):  # fmt: skip
        assert shown in one.text, shown
    assert (
        await console.get(follow_redirects=False, url="/console?since=yesterday")
    ).status_code == 400
    verified = await console.get(follow_redirects=False, url="/console/verify")
    assert verified.status_code == 200 and "ok: " in verified.text
    exported = await console.get(follow_redirects=False, url="/console/export?user_id=bob")
    assert exported.status_code == 200 and denial in exported.text
    assert exported.headers["content-disposition"].startswith("attachment")


async def test_charts_are_svg_drawn_on_the_server(console: AsyncTestClient[Litestar]) -> None:
    await _denial(console)
    await _log_in(console, "ann", roles=("auditor",))
    page = await console.get(follow_redirects=False, url="/console/charts")
    assert page.status_code == 200
    assert page.text.count("<svg") == 2 and 'id="chart-per-rule"' in page.text
    assert "enterprise_managed (1)" in page.text and ">bob<" in page.text


async def test_a_replay_lists_what_a_candidate_would_flip(
    console: AsyncTestClient[Litestar],
) -> None:
    await _denial(console)
    await _log_in(console, "ann", roles=("auditor",))
    form = await console.get(follow_redirects=False, url="/console/replay")
    assert form.status_code == 200 and ">stricter<" in form.text
    ran = await console.get(
        follow_redirects=False, url="/console/replay?candidate=stricter&since=1h"
    )
    assert ran.status_code == 200, ran.text
    assert "LOST" in ran.text and "members_may_not_read" in ran.text and "bob" in ran.text
    escaping = await console.get(follow_redirects=False, url="/console/replay?candidate=../../etc")
    assert escaping.status_code == 400


async def test_logging_out_forgets_the_token(console: AsyncTestClient[Litestar]) -> None:
    await _log_in(console, "ann", roles=("auditor",))
    out = await console.post(
        follow_redirects=False, url="/console/logout", headers={"Origin": ORIGIN}
    )
    assert out.status_code == 303
    assert (await console.get(follow_redirects=False, url="/console")).status_code == 303


async def test_the_policy_page_shows_the_revision_and_a_refused_change(
    start_gateway: AppFactory, tmp_path: Path
) -> None:
    """What decides, and a change that was refused (its error quotes the Rego): `policy.read`,
    so an auditor sees it and an owner does not."""
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    client = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, policy_dir=str(policies), policy_poll_seconds=0)
    )
    await _log_in(client, "alice")
    assert (await client.get(follow_redirects=False, url="/console/policy")).status_code == 403
    await _log_in(client, "ann", roles=("auditor",))
    revision = compile_policy(policies).revision
    page = await client.get(follow_redirects=False, url="/console/policy")
    assert page.status_code == 200 and f'<code id="policy-revision">{revision}</code>' in page.text
    assert "No change refused" in page.text

    (policies / "gateway" / "authz" / "freeze.rego").write_text(
        'package gateway.authz\n\ndeny contains "x" if {\n\tinput.proposed.transprt == 1\n}\n'
    )
    assert await runtime_of(client.app.state).engine.reload() is False
    page = await client.get(follow_redirects=False, url="/console/policy")
    assert f'<code id="policy-revision">{revision}</code>' in page.text  # the good one decides
    assert "freeze.rego" in page.text and "transprt" in page.text
