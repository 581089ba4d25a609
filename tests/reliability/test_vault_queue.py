"""A hung Vault (the bao process SIGSTOPped: connections accepted, nothing answered) must not
pile calls up behind it: at most GATEWAY_VAULT_MAX_PENDING calls wait or run, the rest are a
503 at once, and every admitted call ends at hvac's timeout (issue 13, finding 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gateway.errors import BackendUnavailable
from gateway.secrets.base import SecretOwner
from gateway.secrets.vault import VaultSecretStore
from tests.fixtures.openbao import OpenBaoServer, run_openbao, vault_settings

pytestmark = [pytest.mark.vault]

OWNER = SecretOwner.personal("alice", "mcp_queue")


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """This module's own OpenBao: the tests pause it, so never the session's."""
    with run_openbao(tmp_path_factory.mktemp("bao-queue")) as server:
        yield server


async def test_a_hung_vault_refuses_calls_beyond_the_bound_at_once(bao: OpenBaoServer) -> None:
    store = VaultSecretStore.from_settings(vault_settings(bao, vault_max_pending=4), timeout=0.3)
    try:
        await store.put_many(OWNER, {"A": "a"})  # authenticated and warm before the hang
        bao.pause()
        try:
            results = await asyncio.gather(
                *(store.get_many(OWNER, ["A"]) for _ in range(20)), return_exceptions=True
            )
        finally:
            bao.resume()
        failures = [r for r in results if isinstance(r, BackendUnavailable)]
        assert len(failures) == 20, results  # fail closed: no call answered from nowhere
        busy = [f for f in failures if "too many calls waiting" in f.detail]
        timed_out = [f for f in failures if "timeout" in f.detail]
        # Four admitted (each ends at the timeout), sixteen refused without waiting.
        assert (len(busy), len(timed_out)) == (16, 4), [f.detail for f in failures]
        # Every slot came back with its thread: Vault answers again, so do we.
        again = await asyncio.gather(*(store.get_many(OWNER, ["A"]) for _ in range(4)))
        assert again == [{"A": "a"}] * 4
    finally:
        await store.aclose()


async def test_a_call_queued_behind_hung_ones_gives_up_at_its_deadline(
    bao: OpenBaoServer,
) -> None:
    """One worker and ten calls: the last ones would wait ten timeouts for their turn, far
    past their deadline (twice the timeout, plus a second); they give up instead, and their
    slots come back."""
    store = VaultSecretStore(bao.addr, token=bao.token, timeout=0.3, max_workers=1, max_pending=10)
    try:
        await store.put_many(OWNER, {"A": "a"})
        bao.pause()
        try:
            results = await asyncio.gather(
                *(store.get_many(OWNER, ["A"]) for _ in range(10)), return_exceptions=True
            )
        finally:
            bao.resume()
        failures = [r for r in results if isinstance(r, BackendUnavailable)]
        assert len(failures) == 10, results
        assert any("queued behind slow calls" in f.detail for f in failures), failures
        # The call that was running when its caller gave up still holds the worker until
        # its own timeout; one worker runs in order, so once a call succeeds all are done.
        for _ in range(50):
            try:
                assert await store.get_many(OWNER, ["A"]) == {"A": "a"}
                break
            except BackendUnavailable:
                await asyncio.sleep(0.1)
        again = await asyncio.gather(*(store.get_many(OWNER, ["A"]) for _ in range(10)))
        assert again == [{"A": "a"}] * 10
    finally:
        await store.aclose()
