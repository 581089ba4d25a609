"""Issue 22: a credential value with a trailing newline, used in a header (`X-Key: ${KEY}`) and
called through /mcp, made the gateway log `WARNING ... Illegal header value
b'sk-live-LEAKME-123\\n'`: the secret, verbatim (h11's error, quoted by the upstream pool).
Such a value is refused when stored; one stored before that rule (or a header changed later to
use it) is never handed to the HTTP client, and the log says which header, not what value."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
import pytest_asyncio

from gateway.config import Settings
from gateway.services.secret_records import CredentialRecords
from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import ServedGateway, Upstream, served_gateway, upstreams

pytestmark = pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
T = TypeVar("T")
LEAKED = "sk-live-LEAKME-123"


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Upstream]:
    with upstreams(tmp_path, ("files", "streamable_http")) as [started]:
        yield started


@pytest_asyncio.fixture
async def proxy(gateway_settings: Settings) -> AsyncIterator[ServedGateway]:
    settings = msgspec.structs.replace(
        gateway_settings, allow_private_upstreams=True, mcp_upstream_timeout_seconds=5.0
    )
    with served_gateway(settings) as gateway:
        yield gateway


async def _on_gateway_loop(gateway: ServedGateway, work: Coroutine[Any, Any, T]) -> T:
    loop = gateway.app.state.runtime.services.audit_writer.loop
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))


async def test_a_header_credential_with_a_newline_never_reaches_a_log_line(
    proxy: ServedGateway, files: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {
        "name": "files",
        "transport": "streamable_http",
        "url": files.url,
        "headers": {"X-Key": "${KEY}"},
        "env": ["KEY"],
    }
    async with api(proxy.base_url, "alice") as alice:
        created = await alice.post("/v1/mcp-servers", json=body)
        assert created.status_code == 201, created.text
        server_id = created.json()["id"]
        put = await alice.put(
            f"/v1/mcp-servers/{server_id}/credentials", json={"values": {"KEY": f"{LEAKED}\n"}}
        )
    assert put.status_code == 422, put.text  # refused when stored
    assert put.json()["extra"][0]["key"] == "values.KEY"

    # As if stored before the rule: straight into the secret store, as a PUT writes it.
    runtime = proxy.app.state.runtime
    stores = runtime.stores

    async def store_directly() -> None:
        server = await runtime.services.servers.find(server_id)
        records = CredentialRecords(stores.secrets, stores.personal, stores.enterprise_servers)
        await records.put(server, {"KEY": f"{LEAKED}\n"})

    await _on_gateway_loop(proxy, store_directly())
    async with mcp_session(proxy.mcp_url, "alice") as client:
        listed = await client.list_tools()
    assert not [t.name for t in listed.tools if t.name.startswith("files__")]  # unavailable
    assert files.requests() == []  # nothing was sent
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert LEAKED not in logged
    assert "header 'X-Key' (from ${KEY}) cannot be sent" in caplog.text
