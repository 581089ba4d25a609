"""Issue 23: the policy decides which stdio servers the gateway runs and with what egress
(`mcp_server.run`), and an enterprise can keep its servers' secrets on the gateway (the
hosted-only example denies members `mcp_server.launch`). With the two worked examples on top
of the shipped policy; where no sandbox can be made, hosting is off, loudly, and /readyz says
so."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from mcp import MCPError

from gateway.config import REPO_POLICY_DIR, ConfigError, Settings
from gateway.policy.inputs import MCPServerResource, schema_for
from gateway.wiring import open_runtime
from tests.fixtures.gateway import JWT_SECRET
from tests.fixtures.policies import input_validator
from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import ServedGateway, served_gateway
from tests.mcp_proxy.stdio_hosting import (
    hosting_gateway,
    sandboxes_possible,
    stdlib_server,
    workspace_root,
)

pytestmark = pytest.mark.skipif(not sandboxes_possible(), reason="needs root and bubblewrap")
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
UNAVAILABLE = "gateway/unavailable"
SCHEMA_FILE = REPO_POLICY_DIR / "schemas" / "input.json"
ENTERPRISE_KEY = "enterprise-shared-key-91ab"


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped policy with the hosted-only and stdio-commands examples copied over it."""
    root = tmp_path_factory.mktemp("stdio-policy") / "policies"
    shutil.copytree(REPO_POLICY_DIR, root)
    for example in ("hosted-only", "stdio-commands"):
        shutil.copytree(EXAMPLES / example / "gateway", root / "gateway", dirs_exist_ok=True)
    return root


@pytest.fixture(scope="module")
def gateway(request: pytest.FixtureRequest, policy_dir: Path) -> Iterator[ServedGateway]:
    # Memory stores: this module's world outlives one test, and other tests flush Redis.
    with (
        workspace_root() as root,
        hosting_gateway(
            request, root, redis_url=None, opa_url=None, policy_dir=str(policy_dir)
        ) as served,
    ):
        yield served


@dataclass
class World:
    enterprise_id: str
    shared: str  # the enterprise's auto-enabled stdio server
    online: str  # alice's server granted egress
    offline: str  # alice's server without a grant
    shell: str  # alice's server whose command the allow-list refuses


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> str:
    created = await client.post(path, json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _revision(gateway: ServedGateway) -> str:
    async with httpx.AsyncClient(base_url=gateway.base_url) as client:
        return str((await client.get("/readyz")).json()["policy"]["revision"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(gateway: ServedGateway, policy_dir: Path) -> AsyncIterator[World]:
    async with (
        api(gateway.base_url, "olga") as olga,
        api(gateway.base_url, "bob") as bob,
        api(gateway.base_url, "alice") as alice,
    ):
        ent = await _created(olga, "/v1/enterprises", {"name": "Hosted Inc"})
        shared = await _created(
            olga,
            f"/v1/enterprise/mcp-servers?enterprise_id={ent}",
            stdlib_server("shared", env=["SECRET_TOKEN"]) | {"auto_enabled": True},
        )
        put = await olga.put(
            f"/v1/enterprise/mcp-servers/{shared}/credentials",
            json={"values": {"SECRET_TOKEN": ENTERPRISE_KEY}},
        )
        assert put.status_code == 200, put.text
        invited = await olga.put(f"/v1/enterprises/{ent}/members/bob", json={"role": "member"})
        assert invited.status_code == 202, invited.text
        assert (await bob.post(f"/v1/invitations/{ent}/accept")).status_code == 200
        online = await _created(alice, "/v1/mcp-servers", stdlib_server("online"))
        offline = await _created(alice, "/v1/mcp-servers", stdlib_server("offline"))
        shell = await _created(
            alice,
            "/v1/mcp-servers",
            {"name": "shell", "transport": "stdio", "command": "/bin/sh", "args": ["-c", "cat"]},
        )
    # The rules name the enterprise and the server: write their ids into the policy data and
    # wait for the gateway to load the new revision (it watches the directory).
    before = await _revision(gateway)
    (policy_dir / "gateway" / "hosted_only" / "data.json").write_text(
        json.dumps({"enterprises": [ent]})
    )
    shipped = policy_dir / "gateway" / "data.json"
    data = json.loads(shipped.read_text())
    data["stdio_hosting"]["egress"]["server_ids"] = [online]
    shipped.write_text(json.dumps(data))
    deadline = time.monotonic() + 10
    while await _revision(gateway) == before:
        assert time.monotonic() < deadline, "the policy was not reloaded"
        await asyncio.sleep(0.1)
    yield World(ent, shared, online, offline, shell)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_member_is_refused_the_launch_but_uses_the_tools_through_mcp(
    gateway: ServedGateway, world: World
) -> None:
    async with api(gateway.base_url, "bob") as bob, api(gateway.base_url, "olga") as olga:
        refused = await bob.get(f"/v1/mcp-servers/{world.shared}/launch")
        assert refused.status_code == 403, refused.text
        assert [r["code"] for r in refused.json()["reasons"]] == ["hosted_only"]
        assert ENTERPRISE_KEY not in refused.text
        owner = await olga.get(f"/v1/mcp-servers/{world.shared}/launch")
        assert owner.status_code == 200, owner.text  # owners and admins still may
    async with mcp_session(gateway.mcp_url, "bob") as client:
        listed = await client.list_tools()
        assert "shared__echo" in {t.name for t in listed.tools}
        echoed = await client.call_tool("shared__echo", {"text": "from bob"})
        assert echoed.content[0].text == "from bob"  # type: ignore[union-attr]
        # The enterprise's key is in the server's process (where its tools need it).
        env = await client.call_tool("shared__env", {"name": "SECRET_TOKEN"})
        assert env.content[0].text == ENTERPRISE_KEY  # type: ignore[union-attr]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_command_off_the_allow_list_is_named_in_meta_and_refused_on_call(
    gateway: ServedGateway, world: World
) -> None:
    async with mcp_session(gateway.mcp_url, "alice") as client:
        listed = await client.list_tools()
        names = {t.name for t in listed.tools}
        assert "offline__echo" in names and not any(n.startswith("shell__") for n in names)
        notes = (listed.meta or {})[UNAVAILABLE]
        assert [n["server_id"] for n in notes] == [world.shell]
        assert notes[0]["message"].startswith(f"MCP server 'shell' ({world.shell}) may not run")
        assert "the gateway runs only" in notes[0]["message"] and notes[0]["decision_id"]
        with pytest.raises(MCPError) as refused:
            await client.call_tool("shell__anything", {})
    assert refused.value.code == -32003
    assert [r["code"] for r in refused.value.data["reasons"]] == ["command_not_allowed"]
    records = await gateway.decision_records()
    runs = [r for r in records if r.action == "mcp_server.run" and r.resource_id == world.shell]
    assert runs and not any(r.allowed for r in runs)


_CONNECT = (
    "import socket\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
    "    result = 'connected'\n"
    "except OSError as e:\n"
    "    result = type(e).__name__\n"
)


@pytest.mark.asyncio(loop_scope="module")
async def test_egress_only_where_a_rule_grants_it(gateway: ServedGateway, world: World) -> None:
    code = _CONNECT.format(port=urlsplit(gateway.base_url).port)
    async with mcp_session(gateway.mcp_url, "alice") as client:
        online = await client.call_tool("online__run", {"code": code})
        offline = await client.call_tool("offline__run", {"code": code})
    assert online.content[0].text == "connected"  # type: ignore[union-attr]
    assert offline.content[0].text == "ConnectionRefusedError"  # type: ignore[union-attr]
    records = await gateway.decision_records()
    asked = [
        (r.resource_id, r.input["resource"]["sandbox"]["egress"], r.allowed)
        for r in records
        if r.action == "mcp_server.run" and r.resource_id in (world.online, world.offline)
    ]
    assert (world.online, True, True) in asked
    assert (world.offline, True, False) in asked and (world.offline, False, True) in asked
    assert (world.online, False, True) not in asked  # granted egress: never asked without
    # The input contract (tests/api/test_policy_input_contract.py), for mcp_server.run.
    validator = input_validator(schema_for(MCPServerResource, json.loads(SCHEMA_FILE.read_text())))
    for record in (r for r in records if r.action == "mcp_server.run"):
        validator.validate(record.input)
        assert record.input["resource"]["command"] == "/usr/bin/python3" or (
            record.resource_id == world.shell
        )


async def test_no_sandbox_means_hosting_off_loudly_and_readyz_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # tmp_path is 0700: no sandbox uid can reach a workspace under it.
    unreachable = str(tmp_path / "workspaces")
    settings = Settings(jwt_secret=JWT_SECRET, stdio_workspace_dir=unreachable)
    caplog.set_level(logging.WARNING)
    with served_gateway(settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.base_url) as client:
            ready = (await client.get("/readyz")).json()
        async with api(gateway.base_url, "alice") as alice:
            server_id = await _created(alice, "/v1/mcp-servers", stdlib_server())
        async with mcp_session(gateway.mcp_url, "alice") as session:
            listed = await session.list_tools()
            with pytest.raises(MCPError) as failed:
                await session.call_tool("stdlib__echo", {"text": "x"})
    assert ready["stdio_hosting"]["enabled"] is False
    assert ready["stdio_hosting"]["mode"] == "auto"
    assert "a test sandbox failed" in ready["stdio_hosting"]["reason"]
    assert "STDIO HOSTING IS OFF" in caplog.text
    assert listed.tools == []
    assert [n["server_id"] for n in (listed.meta or {})[UNAVAILABLE]] == [server_id]
    assert "stdio hosting is off on this gateway" in failed.value.message
    assert not os.listdir(unreachable)  # nothing ran


async def test_hosting_true_without_a_sandbox_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(
        jwt_secret=JWT_SECRET, stdio_hosting="true", stdio_workspace_dir=str(tmp_path / "w")
    )
    with pytest.raises(ConfigError, match="GATEWAY_STDIO_HOSTING=true but no sandbox"):
        await open_runtime(settings)


def test_bad_hosting_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_STDIO_HOSTING: auto, true or false"):
        Settings(jwt_secret=JWT_SECRET, stdio_hosting="yes").validate()
    with pytest.raises(ConfigError, match="GATEWAY_STDIO_READONLY_PATHS"):
        Settings(jwt_secret=JWT_SECRET, stdio_readonly_paths=("relative/path",)).validate()
    with pytest.raises(ConfigError, match="GATEWAY_STDIO_MAX_PROCESSES"):
        Settings(jwt_secret=JWT_SECRET, stdio_max_processes=0).validate()
