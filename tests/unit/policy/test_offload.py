"""Evaluations off the event loop (issue 12): a marketplace page of 150 listings is
evaluated on the engine's own thread while the loop goes on serving, and a reload swaps the
thread's copy of the policy too."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import msgspec

from gateway.config import REPO_POLICY_DIR
from gateway.domain.subjects import Subject
from gateway.marketplace.catalog import load_bundled_catalog
from gateway.policy import inputs
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.policy.engine import AUTHZ_DECISION, MARKETPLACE_LISTINGS
from gateway.services.marketplace import install_item

BOB = Subject(id="bob", email="bob@example.com")
REQUEST = inputs.RequestInfo(method="GET", path="/v1/marketplace/servers", req_id="r-1")


def _page(size: int) -> bytes:
    listings = list(load_bundled_catalog())
    page = [install_item(BOB, listings[i % len(listings)], {}) for i in range(size)]
    return msgspec.json.encode(inputs.ListingsInput(subject=BOB, request=REQUEST, listings=page))


async def test_a_large_page_does_not_stall_the_event_loop() -> None:
    engine = EmbeddedRegoEngine(REPO_POLICY_DIR, poll_seconds=0)
    ticks = 0
    done = False

    async def heartbeat() -> None:
        nonlocal ticks
        while not done:
            await asyncio.sleep(0)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    try:
        result = await engine.evaluate(MARKETPLACE_LISTINGS, _page(150))
    finally:
        done = True
        await beating
        await engine.aclose()
    assert result.result["decisions"]  # a real answer
    assert engine.offloaded == 1
    # The loop turned many times while the page was evaluated (inline it would not turn once).
    assert ticks > 100, ticks


async def test_inline_below_the_threshold_and_the_same_answer(tmp_path: Path) -> None:
    offloading = EmbeddedRegoEngine(REPO_POLICY_DIR, poll_seconds=0, offload_bytes=0)
    inline = EmbeddedRegoEngine(REPO_POLICY_DIR, poll_seconds=0, offload_bytes=1 << 30)
    doc = msgspec.json.encode(
        inputs.PolicyInput(
            action="mcp_server.create",
            subject=BOB,
            resource=None,
            request=REQUEST,
            context=inputs.DecisionContext(),
        )
    )
    try:
        a = await offloading.evaluate(AUTHZ_DECISION, doc)
        b = await inline.evaluate(AUTHZ_DECISION, doc)
        assert a.result == b.result
        assert (offloading.offloaded, inline.offloaded) == (1, 0)
    finally:
        await offloading.aclose()
        await inline.aclose()


async def test_a_reload_swaps_the_threads_copy_too(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    engine = EmbeddedRegoEngine(policies, poll_seconds=0, offload_bytes=0)
    page = _page(3)
    try:
        before = await engine.evaluate(MARKETPLACE_LISTINGS, page)
        assert any(d["allow"] for d in before.result["decisions"].values())
        (policies / "gateway" / "no_installs.rego").write_text(
            "package gateway.authz\n\n"
            'deny contains {"code": "closed", "message": "no installs"} if {\n'
            '\tinput.action == "marketplace.install"\n}\n'
        )
        assert await engine.reload()
        after = await engine.evaluate(MARKETPLACE_LISTINGS, page)
        assert not any(d["allow"] for d in after.result["decisions"].values())
    finally:
        await engine.aclose()
