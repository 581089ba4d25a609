"""p50/p99 of one policy decision, per entrypoint and engine: the embedded engine in-process
(inline on the loop, and on its evaluation thread as the gateway runs it), a real OPA over
loopback (started here from the binary scripts/opa builds), and a memoized decision (the
same input again under the same revision: what the Authorizer does instead of evaluating).

Run by hand: `.venv/bin/python -m bench.decisions [--n 3000]`. Prints a Markdown table.

Only the engines: no HTTP, no auth, no rate limit, no stores; each case's input is encoded
once from the gateway's Structs and evaluated as bytes. OPA logs its decisions to a file (as
in the tests and compose.yaml), and a second OPA without its own decision log says what that
log costs; the memoized column asks the Authorizer's memo, as a repeated request does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from gateway.audit.masking import Masker
from gateway.audit.memory_log import MemoryDecisionLog
from gateway.audit.recorder import AuditRecorder
from gateway.audit.writer import AuditWriter
from gateway.config import REPO_POLICY_DIR
from gateway.domain.subjects import Membership, Subject
from gateway.marketplace.catalog import load_bundled_catalog
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.policy.engine import (
    ACCOUNTS_PROVISION,
    AUTHZ_DECISION,
    MARKETPLACE_LISTINGS,
    SCOPE_VIEW,
    Evaluation,
)
from gateway.policy.opa import OPAEngine
from gateway.services.marketplace import install_item
from tests.fixtures.opa_server import OPAServer, opa_binary

BOB = Subject(
    id="bob",
    email="bob@acme.io",
    memberships={
        "ent_1": Membership(role="member", kind="organization"),
        "ent_2": Membership(role="admin", kind="organization", restrict_installs_to_approved=True),
    },
)
COUNTS = inputs.Counts(personal_servers=3)
REQUEST = inputs.RequestInfo(method="GET", path="/v1/x", req_id="r-1")


def cases() -> dict[str, tuple[str, bytes]]:
    mine = inputs.MCPServerResource(
        id="mcp_1", source="personal", user_id="bob", name="files", transport="stdio",
        command="uvx", args=["mcp-server-files"], env=["TOKEN"],
    )  # fmt: skip
    managed = inputs.MCPServerResource(
        id="emcp_1", source="enterprise", enterprise_id="ent_1", auto_enabled=True, name="gh",
        transport="streamable_http", url="https://mcp.example.com/mcp",
    )  # fmt: skip

    def authz(action: str, resource: inputs.Resource) -> bytes:
        return msgspec.json.encode(
            inputs.PolicyInput(
                action=action, subject=BOB, resource=resource, request=REQUEST,
                context=inputs.DecisionContext(),
            )
        )  # fmt: skip

    subject_only = msgspec.json.encode(inputs.SubjectInput(subject=BOB, request=REQUEST))
    page = [install_item(BOB, listing, {}) for listing in list(load_bundled_catalog())[:20]]
    listings = msgspec.json.encode(
        inputs.ListingsInput(subject=BOB, request=REQUEST, listings=page)
    )
    create = msgspec.json.encode(
        inputs.PolicyInput(
            action="mcp_server.create", subject=BOB, resource=mine, proposed=mine,
            request=REQUEST, context=inputs.DecisionContext(counts=COUNTS),
        )
    )  # fmt: skip
    return {
        "authz: owner reads own server (allow)": (AUTHZ_DECISION, authz("mcp_server.read", mine)),
        "authz: create with proposed (allow)": (AUTHZ_DECISION, create),
        "authz: member updates managed (deny)": (
            AUTHZ_DECISION,
            authz("mcp_server.update", managed),
        ),
        "scope.view": (SCOPE_VIEW, subject_only),
        "accounts.provision": (ACCOUNTS_PROVISION, subject_only),
        "marketplace.listings (20 listings)": (MARKETPLACE_LISTINGS, listings),
    }


async def measure(
    evaluate: Callable[[str, bytes], Awaitable[Evaluation]], n: int
) -> dict[str, tuple[float, float]]:
    out = {}
    for name, (entrypoint, raw) in cases().items():
        count = n // 10 if "listings" in name else n
        for _ in range(min(200, count)):
            await evaluate(entrypoint, raw)
        samples = []
        for _ in range(count):
            started = time.perf_counter_ns()
            await evaluate(entrypoint, raw)
            samples.append((time.perf_counter_ns() - started) / 1000)
        samples.sort()
        out[name] = (statistics.median(samples), samples[int(len(samples) * 0.99) - 1])
    return out


def memoized(engine: EmbeddedRegoEngine) -> Callable[[str, bytes], Awaitable[Evaluation]]:
    """The Authorizer's own path for a repeated question: the memo key, then the memo."""
    writer = AuditWriter(MemoryDecisionLog(), Masker(engine))
    authorizer = Authorizer(engine, AuditRecorder(writer, labels={"engine": engine.name}))

    async def answer(entrypoint: str, raw: bytes) -> Evaluation:
        result, revision, key = authorizer._remembered(entrypoint, raw, "r-1")
        if result is None:
            result, _, _ = await authorizer._answer(entrypoint, raw, revision, key)
        return Evaluation(result)

    return answer


async def main_async(n: int, opa_url: str | None, opa_unlogged_url: str | None = None) -> None:
    inline = EmbeddedRegoEngine(REPO_POLICY_DIR, poll_seconds=0, offload_bytes=1 << 30)
    threaded = EmbeddedRegoEngine(REPO_POLICY_DIR, poll_seconds=0, offload_bytes=0)
    results = {
        "embedded inline": await measure(inline.evaluate, n),
        "embedded on its thread": await measure(threaded.evaluate, n),
        "memoized (embedded)": await measure(memoized(inline), n),
    }
    if opa_url is not None:
        opa = OPAEngine(opa_url, timeout_seconds=2, poll_seconds=0)
        await opa.open()
        results["OPA 1.22.3 over loopback"] = await measure(opa.evaluate, n)
        await opa.aclose()
    if opa_unlogged_url is not None:  # what OPA's own (masked) decision log costs
        opa = OPAEngine(opa_unlogged_url, timeout_seconds=2, poll_seconds=0)
        await opa.open()
        results["OPA, its decision log off"] = await measure(opa.evaluate, n)
        await opa.aclose()
    print("| entrypoint / case | " + " | ".join(f"{e} p50 / p99 µs" for e in results) + " |")
    print("|---|" + "---:|" * len(results))
    for name in cases():
        cells = [f"{r[name][0]:.0f} / {r[name][1]:.0f}" for r in results.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=3000, help="decisions timed per case")
    n = parser.parse_args().n
    if opa_binary() is None:
        print("no OPA binary (run scripts/opa): the OPA column is left out")
        asyncio.run(main_async(n, None))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = OPAServer(REPO_POLICY_DIR, Path(tmp))  # decision logs to a file, as in tests
        unlogged = OPAServer(REPO_POLICY_DIR, Path(tmp), decision_log=False)
        try:
            asyncio.run(main_async(n, server.url, unlogged.url))
        finally:
            server.stop()
            unlogged.stop()


if __name__ == "__main__":
    main()
