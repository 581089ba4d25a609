"""Issue 23: stdio servers of the caller's view run on the gateway, each in a bubblewrap
sandbox of its own, and are proxied through /mcp like HTTP servers: listed and called under
the policy, their credentials from Vault in their process only, a server that cannot start or
dies named in `_meta` and in the call's error."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import MCPError

from gateway.sandbox import Workspaces
from gateway.sandbox.workspaces import Workspace
from tests.fixtures.gateway import token_for
from tests.mcp_proxy.client import (
    ResponseLog,
    api,
    mcp_client,
    mcp_session,
    plan,
    run_rounds,
    run_ts_client,
    ts_sdk_dir,
)
from tests.mcp_proxy.peers import ServedGateway, eventually
from tests.mcp_proxy.stdio_hosting import (
    EVERYTHING,
    FILESYSTEM,
    hosting_gateway,
    npm_server,
    processes_of,
    sandboxes_possible,
    sdk_server,
    stdio_servers_dir,
    stdlib_server,
    workspace_root,
)

# Starting, reaching and stopping sandboxes; what the policy decides about them is
# test_stdio_policy.py's, which the OPA pass runs (tests/conftest.py skips this one there).
pytestmark = [
    pytest.mark.skipif(not sandboxes_possible(), reason="needs root and bubblewrap"),
    pytest.mark.engine_independent,
]
# Unique per run: the hosts' processes are scanned for it, other workers' sandboxes included.
SECRET = f"s3cr3t-{uuid.uuid4().hex}"
OTHER_SECRET = f"s3cr3t-{uuid.uuid4().hex}"
UNAVAILABLE = "gateway/unavailable"


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with workspace_root() as found:
        yield found


@pytest.fixture(scope="module")
def gateway(request: pytest.FixtureRequest, root: str) -> Iterator[ServedGateway]:
    with hosting_gateway(request, root) as served:
        yield served


def _servers_dir() -> str:
    found = stdio_servers_dir()
    if found is None:
        pytest.skip("no Node.js here: scripts/stdio-servers could not install the servers")
    return found


async def install(gateway: ServedGateway, user: str, body: dict[str, object]) -> str:
    async with api(gateway.base_url, user) as client:
        created = await client.post("/v1/mcp-servers", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


async def set_secret(gateway: ServedGateway, user: str, server_id: str, value: str) -> None:
    async with api(gateway.base_url, user) as client:
        put = await client.put(
            f"/v1/mcp-servers/{server_id}/credentials", json={"values": {"SECRET_TOKEN": value}}
        )
        assert put.status_code == 200, put.text


def _text(result: object) -> str:
    return str(result.content[0].text)  # type: ignore[attr-defined]


def _holders(secret: str) -> set[int]:
    """The real uids of the host's processes whose command line or environment holds
    `secret`."""
    uids: set[int] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            found = any(
                secret.encode() in Path(f"/proc/{pid}/{part}").read_bytes()
                for part in ("cmdline", "environ")
            )
            if found:
                status = Path(f"/proc/{pid}/status").read_text()
                uids.add(
                    int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
                )
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return uids


async def test_an_inline_stdlib_server_is_listed_and_called_with_its_vault_secret(
    gateway: ServedGateway, root: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server_id = await install(gateway, "alice", stdlib_server(env=["SECRET_TOKEN"]))
    await set_secret(gateway, "alice", server_id, SECRET)
    bobs = await install(gateway, "bob", stdlib_server(env=["SECRET_TOKEN"]))
    for mode in ("auto", "legacy"):
        async with mcp_session(gateway.mcp_url, "alice", mode) as client:
            listed = await client.list_tools()
            names = {t.name for t in listed.tools}
            assert {"stdlib__echo", "stdlib__env", "stdlib__run"} <= names, listed
            assert _text(await client.call_tool("stdlib__echo", {"text": "hello"})) == "hello"
            env = await client.call_tool("stdlib__env", {"name": "SECRET_TOKEN"})
            assert _text(env) == SECRET
    # The secret is in that sandbox's process and nowhere else on the host: not on a command
    # line, not in prlimit's, setpriv's or bwrap's environment (they run as root or as the
    # sandbox's uid; only the server, as the sandbox's uid, holds it).
    assert _holders(SECRET) == {Workspaces(root).of("alice", server_id).uid}
    async with mcp_session(gateway.mcp_url, "bob") as client:
        assert _text(await client.call_tool("stdlib__env", {"name": "SECRET_TOKEN"})) == "<unset>"
    # The server prints its secret on stdout (not JSON-RPC: the SDK logs that it could not
    # parse a line) and on stderr (the gateway logs the line): neither puts it in the log.
    async with mcp_session(gateway.mcp_url, "alice") as client:
        leak = "import os, sys; print('leak ' + os.environ['SECRET_TOKEN']); sys.stdout.flush()"
        await client.call_tool("stdlib__run", {"code": leak + "; result = 'printed'"})
        assert _text(await client.call_tool("stdlib__echo", {"text": "still"})) == "still"
    assert "stdlib server up; token=***" in caplog.text
    assert "Failed to parse JSONRPC message from server" in caplog.text
    logged = caplog.text + "".join(repr(r.args) + repr(r.exc_info) for r in caplog.records)
    assert SECRET not in logged
    assert bobs


async def test_a_python_sdk_server_serves_tools_resources_and_prompts_in_its_workspace(
    gateway: ServedGateway,
) -> None:
    await install(gateway, "carol", sdk_server(_servers_dir()))
    log = ResponseLog()
    async with mcp_client(gateway.mcp_url, token_for("carol"), log=log) as client:
        report = await run_rounds(
            "python",
            client,
            plan(
                rounds=1, tool="sdk__add", arguments={"a": 2, "b": 3}, resource="memo://notes/hello"
            ),
            log,
        )
        whoami = _text(await client.call_tool("sdk__whoami", {}))
    assert report.errors == []
    seen = report.rounds[0]
    assert (seen["call"], seen["read"], seen["prompt"]) == (
        "5",
        "hello from the sandbox",
        "Hello, Ann!",
    )
    assert whoami == "uid=65534 cwd=/workspace home=/workspace"


async def test_server_everything_with_the_python_and_typescript_clients(
    gateway: ServedGateway,
) -> None:
    servers = _servers_dir()
    server_id = await install(
        gateway,
        "dave",
        npm_server(servers, "everything", EVERYTHING, "stdio") | {"env": ["SECRET_TOKEN"]},
    )
    await set_secret(gateway, "dave", server_id, OTHER_SECRET)
    wanted = plan(
        rounds=1,
        tool="everything__echo",
        arguments={"message": "hi"},
        resource="demo://resource/static/document/features.md",
        prompt="everything__args-prompt",
        prompt_arguments={"city": "Paris"},
    )
    log = ResponseLog()
    async with mcp_client(gateway.mcp_url, token_for("dave"), log=log) as client:
        report = await run_rounds("python", client, wanted, log)
        env = json.loads(_text(await client.call_tool("everything__get-env", {})))
    assert report.errors == []
    assert report.rounds[0]["call"] == "Echo: hi"
    assert "Paris" in (report.rounds[0]["prompt"] or "")
    assert env["SECRET_TOKEN"] == OTHER_SECRET
    assert env["HOME"] == "/workspace"
    sdk = ts_sdk_dir()
    if sdk is not None:
        seen = await run_ts_client(sdk, gateway.mcp_url, token_for("dave"), wanted)
        assert seen["errors"] == []
        assert seen["rounds"][0]["call"]["content"][0]["text"] == "Echo: hi"


async def test_server_filesystem_is_limited_to_the_workspace(
    gateway: ServedGateway, root: str
) -> None:
    server_id = await install(
        gateway, "erin", npm_server(_servers_dir(), "files", FILESYSTEM, "/workspace")
    )
    async with mcp_session(gateway.mcp_url, "erin") as client:
        wrote = await client.call_tool(
            "files__write_file", {"path": "/workspace/note.txt", "content": "kept"}
        )
        assert not wrote.is_error, wrote
        read = await client.call_tool("files__read_text_file", {"path": "/workspace/note.txt"})
        assert _text(read) == "kept"
        outside = await client.call_tool("files__read_text_file", {"path": "/etc/hostname"})
        assert outside.is_error
        assert "outside allowed directories" in _text(outside)
    kept = Workspaces(root).of("erin", server_id).workspace / "note.txt"
    assert kept.read_text() == "kept"
    assert kept.stat().st_uid == Workspaces(root).of("erin", server_id).uid  # not root's


async def test_a_server_that_cannot_start_or_dies_is_named_in_meta_and_in_the_error(
    gateway: ServedGateway,
) -> None:
    broken = await install(
        gateway, "fred", {"name": "broken", "transport": "stdio", "command": "/nonexistent/mcp"}
    )
    await install(gateway, "fred", stdlib_server())
    async with mcp_session(gateway.mcp_url, "fred") as client:
        listed = await client.list_tools()
        assert {t.name for t in listed.tools} >= {"stdlib__echo"}
        notes = (listed.meta or {})[UNAVAILABLE]
        assert [n["server_id"] for n in notes] == [broken]
        assert "sandboxed process did not start or has stopped" in notes[0]["message"]
        with pytest.raises(MCPError) as failed:
            await client.call_tool("broken__anything", {})
        assert "sandboxed process did not start or has stopped" in failed.value.message
        # The server exits in the middle of a call: that call fails, saying so; the next
        # request starts it again.
        with pytest.raises(MCPError) as died:
            await client.call_tool("stdlib__run", {"code": "import os; os._exit(3)"})
        assert "is unavailable" in died.value.message
        assert _text(await client.call_tool("stdlib__echo", {"text": "again"})) == "again"


def _env_files(place: Workspace) -> list[str]:
    """The env files in a sandbox's directory (one per running start)."""
    return [p.name for p in place.home.glob("env*")]


async def test_sandboxes_stop_beyond_the_cap_and_when_idle(
    request: pytest.FixtureRequest, root: str
) -> None:
    with hosting_gateway(request, root, stdio_idle_seconds=1, stdio_max_sandboxes=1) as small:
        ginas = Workspaces(root).of("gina", await install(small, "gina", stdlib_server()))
        hanks = Workspaces(root).of("hank", await install(small, "hank", stdlib_server()))
        async with mcp_session(small.mcp_url, "gina") as client:
            assert _text(await client.call_tool("stdlib__echo", {"text": "1"})) == "1"
        assert processes_of(ginas.uid) > 0 and _env_files(ginas)
        # One sandbox per gateway here: starting hank's stops gina's.
        async with mcp_session(small.mcp_url, "hank") as client:
            assert _text(await client.call_tool("stdlib__echo", {"text": "2"})) == "2"
        await eventually(lambda: processes_of(ginas.uid) == 0 and not _env_files(ginas))
        assert processes_of(hanks.uid) > 0
        # Unused for GATEWAY_STDIO_IDLE_SECONDS: stopped, its env file gone.
        await eventually(lambda: processes_of(hanks.uid) == 0 and not _env_files(hanks))
