"""The console in a real browser (issue 24's "done when"): Debian's chromium, headless, driven
by Playwright, against a real `gateway serve` process: log in with a pasted token, search
bob's denials, open one, see the chart, run a replay. With UPDATE_CONSOLE_SCREENSHOTS=1 the
screenshots go to docs/img/ (docs/auditors.md shows them). Skipped, loudly, where no
chromium or no Playwright is installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gateway.auth.dev_tokens import mint_dev_token
from tests.console.conftest import MANAGED, candidates
from tests.fixtures.gateway import AUDIENCES, JWT_SECRET
from tests.fixtures.live_gateway import LiveGateway, live_gateway

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The docs' screenshots are refreshed on request only (UPDATE_CONSOLE_SCREENSHOTS=1), so a
# test run does not rewrite tracked images.
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="NO CHROMIUM: the console's browser test did not run (apt-get install chromium; "
    "scripts/test installs it)",
)


def _scenario(gateway: LiveGateway) -> str:
    """alice's enterprise, bob a member refused a change to its managed server: the denial's id."""
    with gateway.client("alice") as alice, gateway.client("bob") as bob:
        ent = alice.post("/v1/enterprises", json={"name": "Acme"}).json()["id"]
        assert (
            alice.put(f"/v1/enterprises/{ent}/members/bob", json={"role": "member"}).status_code
            == 202
        )
        assert bob.post(f"/v1/invitations/{ent}/accept").status_code == 200
        created = alice.post(
            f"/v1/enterprise/mcp-servers?enterprise_id={ent}",
            json={**MANAGED, "auto_enabled": True},
        )
        server = created.json()["id"]
        assert bob.get(f"/v1/mcp-servers/{server}").status_code == 200
        for name in ("mine", "ours"):
            denied = bob.patch(f"/v1/mcp-servers/{server}", json={"name": name})
            assert denied.status_code == 403
        return str(denied.headers["x-decision-id"])


def test_an_auditor_logs_in_finds_bobs_denial_sees_the_chart_and_runs_a_replay(
    tmp_path: Path,
) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="NO PLAYWRIGHT: pip install playwright (pyproject [test])"
    )
    root = candidates(tmp_path)
    auditor = mint_dev_token(
        JWT_SECRET, sub="ann", email="ann@example.com", roles=("auditor",), audience=AUDIENCES
    )
    shots = DOCS_IMG if os.environ.get("UPDATE_CONSOLE_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with live_gateway(tmp_path, GATEWAY_CONSOLE_CANDIDATES_DIR=str(root)) as gateway:
        denial = _scenario(gateway)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            page.goto(f"{gateway.base_url}/console")
            assert page.url.endswith("/console/login")  # no session yet
            page.fill("#token", auditor)
            page.screenshot(path=str(shots / "console-login.png"))
            page.click("#login")

            # Search bob's denials.
            page.fill("input[name=user_id]", "bob")
            page.select_option("select[name=allowed]", "false")
            page.fill("input[name=since]", "1h")
            page.click("#search")
            rows = page.locator("#results tbody tr")
            assert rows.count() == 2
            assert "enterprise_managed" in rows.first.inner_text()
            page.screenshot(path=str(shots / "console-search.png"), full_page=True)

            # Open the newest one.
            rows.first.locator("a.decision").click()
            assert page.inner_text("#decision-id") == denial
            assert page.inner_text("#allowed") == "NO"
            assert "enterprise_managed" in page.inner_text("#reasons")
            assert page.inner_text("#chain").startswith("seq ")
            assert "hashes to its hash" in page.inner_text("#verify")
            page.screenshot(path=str(shots / "console-decision.png"), full_page=True)

            # The chart.
            page.click("text=Charts")
            chart = page.locator("#chart-per-rule")
            assert chart.is_visible() and chart.locator("rect").count() >= 2
            assert "enterprise_managed (2)" in (chart.text_content() or "")
            assert page.locator("#chart-subjects").is_visible()
            page.screenshot(path=str(shots / "console-charts.png"), full_page=True)

            # A replay of the stricter candidate: bob's allowed read would be lost.
            page.click("text=Replay")
            page.select_option("#candidate", "stricter")
            page.fill("#replay-form input[name=since]", "1h")
            page.click("#replay")
            assert "would flip" in page.inner_text("#replay-summary")
            flips = page.inner_text("#flips")
            assert "LOST" in flips and "members_may_not_read" in flips and "bob" in flips
            page.screenshot(path=str(shots / "console-replay.png"), full_page=True)
            browser.close()
