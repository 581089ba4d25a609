"""The upstream pool (gateway/mcp_proxy/upstreams.py) against real SDK 2.3 upstreams, each in
its own process (so the gateway's memory is measured alone):

- `modern`: a stateless server answering both eras (a 2026-07-28 client gets 2026), JSON
  answers sent chunked (no Content-Length: the byte bound counts them as they stream);
- `legacy`: a stateful 2025-only server (refuses the 2026 probe as a 1.x server does) with
  sessions (Mcp-Session-Id, DELETE on close) and answers as event streams;
- `sse`: the old HTTP+SSE transport (server records with `transport: sse`).

Each upstream logs every HTTP request and tool call (with the `X-Token` header it received)
to a file the tests read. The bounds, the keying by user and record version, the errors a
caller hears, listings followed through every page and the connection guard.

The upstream itself: `python -m tests.mcp_proxy.test_upstream_pool PORT FLAVOR LOG`.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import msgspec
import pytest
from mcp import MCPError, types

from gateway.domain.servers import MCPServerConfig
from gateway.domain.targets import UpstreamReach, parse_private_networks
from gateway.mcp_proxy.network import UpstreamRefused, guarded_client
from gateway.mcp_proxy.upstreams import MAX_ITEMS, MAX_PAGES, UpstreamPool, UpstreamUnavailable
from gateway.secrets.memory import MemorySecretStore
from gateway.services.secret_records import CredentialRecords
from gateway.stores.memory import MemoryEnterpriseMCPServerStore, MemoryMCPServerStore

# The pool's mechanics, no policy engine in them: the OPA pass skips it (tests/conftest.py).
pytestmark = pytest.mark.engine_independent

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 7, 1, tzinfo=UTC)
MiB = 1024 * 1024
PAGE = 2  # items per page in every upstream listing
TOOLS = ["echo", "big", "sleep", "fail", "shaped", "t5", "t6"]
SHAPED = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
RESOURCES = [f"memo://r{i}" for i in range(5)]
TEMPLATES = [f"memo://t{i}/{{name}}" for i in range(3)]
PROMPTS = [f"p{i}" for i in range(5)]
FLAVORS = ["modern", "legacy"]
PROTOCOL = {"modern": "2026-07-28", "legacy": "2025-11-25"}
USER: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="alice")


# ------------------------------------------------------------------------------------ the upstream


def _serve(port: int, flavor: str, log_path: str) -> None:  # pragma: no cover (a subprocess)
    import uvicorn
    from mcp.server import Server
    from mcp.server.sse import SseServerTransport
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    log_file = open(log_path, "a", buffering=1)  # noqa: SIM115 (open for the process's life)

    def note(**fields: Any) -> None:
        log_file.write(json.dumps(fields) + "\n")

    def header(ctx: Any, name: str) -> str | None:
        return ctx.request.headers.get(name) if ctx.request is not None else None

    def page(ctx: Any, params: Any, items: list[Any], method: str) -> tuple[list[Any], str | None]:
        start = int(params.cursor) if params is not None and params.cursor else 0
        note(method=method, cursor=start, token=header(ctx, "x-token"))
        endless = header(ctx, "x-endless")
        if endless:  # a listing that never ends: the pool must stop
            size = int(endless)
            made = [{"name": f"x{start + i}"} for i in range(size)]
            return made, str(start + size)
        nxt = start + PAGE
        return items[start:nxt], (str(nxt) if nxt < len(items) else None)

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        tools = [
            types.Tool(
                name=n,
                input_schema={"type": "object"},
                output_schema=SHAPED if n == "shaped" else None,
            )
            for n in TOOLS
        ]
        found, cursor = page(ctx, params, tools, "tools/list")
        return types.ListToolsResult(tools=found, next_cursor=cursor)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        args = params.arguments or {}
        token = header(ctx, "x-token")
        note(method="tools/call", tool=params.name, token=header(ctx, "x-token"))

        def text(value: str) -> types.CallToolResult:
            return types.CallToolResult(content=[types.TextContent(type="text", text=value)])

        if params.name == "echo":
            return text(json.dumps({"token": token, "args": args}))
        if params.name == "big":
            return text("x" * int(args["bytes"]))
        if params.name == "sleep":
            await anyio.sleep(float(args["seconds"]))
            return text("slept")
        if params.name == "shaped":  # not what its output schema says
            return types.CallToolResult(content=[], structured_content={"n": "many"})
        if params.name == "fail":
            raise MCPError(-32003, "refused by the upstream", data={"why": "a test"})
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")

    async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        items = [types.Resource(uri=u, name=u.rsplit("/", 1)[-1]) for u in RESOURCES]
        found, cursor = page(ctx, params, items, "resources/list")
        return types.ListResourcesResult(resources=found, next_cursor=cursor)

    async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        items = [
            types.ResourceTemplate(uri_template=u, name=f"t{i}") for i, u in enumerate(TEMPLATES)
        ]
        found, cursor = page(ctx, params, items, "resources/templates/list")
        return types.ListResourceTemplatesResult(resource_templates=found, next_cursor=cursor)

    async def read_resource(
        ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        if params.uri not in RESOURCES:
            raise MCPError(types.INVALID_PARAMS, "no such resource", data={"uri": params.uri})
        contents: list[types.TextResourceContents | types.BlobResourceContents] = [
            types.TextResourceContents(uri=params.uri, text=f"read {params.uri}")
        ]
        return types.ReadResourceResult(contents=contents)

    async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
        items = [types.Prompt(name=n) for n in PROMPTS]
        found, cursor = page(ctx, params, items, "prompts/list")
        return types.ListPromptsResult(
            prompts=[types.Prompt.model_validate(p) if isinstance(p, dict) else p for p in found],
            next_cursor=cursor,
        )

    async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        said = f"{params.name} {json.dumps(params.arguments or {}, sort_keys=True)}"
        message = types.PromptMessage(
            role="user", content=types.TextContent(type="text", text=said)
        )
        return types.GetPromptResult(messages=[message])

    server: Server[Any] = Server(
        f"upstream-{flavor}",
        version="1",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )
    manager = StreamableHTTPSessionManager(
        app=server, stateless=flavor == "modern", json_response=flavor == "modern"
    )
    sse = SseServerTransport("/messages/")

    async def respond(send: Any, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            async with manager.run():
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/health":
            await respond(send, 200, b"{}")
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        note(
            http=scope["method"],
            token=headers.get("x-token"),
            session=headers.get("mcp-session-id"),
            version=headers.get("mcp-protocol-version"),
        )
        if flavor == "sse":  # the old HTTP+SSE transport: a GET stream, POSTed messages
            if scope["method"] == "GET":
                async with sse.connect_sse(scope, receive, send) as (read, write):
                    await server.run(read, write, server.create_initialization_options())
            else:
                await sse.handle_post_message(scope, receive, send)
            return
        if flavor == "legacy" and headers.get("mcp-protocol-version") in MODERN_PROTOCOL_VERSIONS:
            # What a 2025-only (SDK 1.x, stateful) server answers to the 2026 probe.
            error = {"code": types.INVALID_REQUEST, "message": "Bad Request: Missing session ID"}
            await respond(
                send,
                400,
                json.dumps({"jsonrpc": "2.0", "id": "server-error", "error": error}).encode(),
            )
            return

        async def chunked(message: Any) -> None:
            if message["type"] == "http.response.start":  # no Content-Length: sent chunked
                message = {
                    **message,
                    "headers": [(k, v) for k, v in message["headers"] if k != b"content-length"],
                }
            await send(message)

        await manager.handle_request(scope, receive, chunked if flavor == "modern" else send)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Upstream:
    flavor: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{'sse' if self.flavor == 'sse' else 'mcp'}"

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def calls(self, tool: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("method") == "tools/call" and r["tool"] == tool]

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.mcp_proxy.test_upstream_pool",
                str(self.port),
                self.flavor,
                str(self.log),
            ],
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the upstream exited"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.1)
        raise TimeoutError("the upstream did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@contextlib.contextmanager
def _upstream(flavor: str, tmp: Path) -> Iterator[Upstream]:
    up = Upstream(flavor=flavor, port=_free_port(), log=tmp / f"{flavor}.jsonl")
    up.log.touch()
    up.start()
    try:
        yield up
    finally:
        up.stop()


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Upstream]]:
    tmp = tmp_path_factory.mktemp("upstreams")
    with _upstream("modern", tmp) as modern, _upstream("legacy", tmp) as legacy:
        yield {"modern": modern, "legacy": legacy}


@pytest.fixture(params=FLAVORS)
def upstream(request: pytest.FixtureRequest, upstreams: dict[str, Upstream]) -> Upstream:
    return upstreams[request.param]


# -------------------------------------------------------------------------------- the gateway side


def _server(
    url: str,
    *,
    id: str = "mcp_files1",
    name: str = "files",
    updated_at: datetime = T0,
    headers: dict[str, str] | None = None,
) -> MCPServerConfig:
    return MCPServerConfig(
        id=id,
        user_id="alice",
        name=name,
        transport="sse" if url.endswith("/sse") else "streamable_http",
        url=url,
        headers={"X-Token": "${TOKEN}"} if headers is None else headers,
        env=["TOKEN"],
        credentials_set=["TOKEN"],
        created_at=T0,
        updated_at=updated_at,
    )


class Credentials:
    """The pool's resolver: values by server id (a test changes them), or per user."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, str]] = {}
        self.per_user = False

    async def __call__(self, server: Any) -> dict[str, str]:
        if self.per_user:
            return {"TOKEN": f"token-of-{USER.get()}"}
        return self.values.get(server.id, {"TOKEN": "tok-7f3a9c"})


@contextlib.asynccontextmanager
async def running_pool(resolve: Any = None, **bounds: Any) -> AsyncIterator[UpstreamPool]:
    settings: dict[str, Any] = {
        "timeout_seconds": 5.0,
        "reach": UpstreamReach(everything=True),
        "max_response_bytes": 1 * MiB,
        "idle_seconds": 300.0,
        "max_per_user": 8,
        "max_total": 100,
    }
    pool = UpstreamPool(resolve or Credentials(), **{**settings, **bounds})
    async with pool.running():
        yield pool


def _text(result: types.CallToolResult) -> str:
    [content] = result.content
    assert isinstance(content, types.TextContent)
    return content.text


def _rss() -> int:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _eventually(check: Any, seconds: float = 5.0) -> None:
    deadline = anyio.current_time() + seconds
    while not check():
        assert anyio.current_time() < deadline, "not within the time"
        await anyio.sleep(0.05)


# ----------------------------------------------------------------------------- 1. the answer bound


async def test_a_30mb_answer_is_refused_and_memory_stays_bounded(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    server = _server(upstream.url)
    async with running_pool(max_response_bytes=1 * MiB) as pool:
        # Warm up: an answer just under the bound, and one refusal (imports, buffers).
        near = await pool.call_tool("alice", server, "big", {"bytes": 900_000})
        assert len(_text(near)) == 900_000
        with pytest.raises(UpstreamUnavailable):
            await pool.call_tool("alice", server, "big", {"bytes": 2 * MiB})
        before = _rss()
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable) as refused:
            await pool.call_tool("alice", server, "big", {"bytes": 30 * MiB})
        took = time.monotonic() - started
        after = _rss()
        # The next small call goes through on the same client.
        small = await pool.call_tool("alice", server, "echo", {"n": 1})
        assert json.loads(_text(small))["args"] == {"n": 1}
        stats = pool.stats()
    assert refused.value.reason == "too_large"
    assert str(refused.value) == (
        f"MCP server 'files' (mcp_files1) answered with more than {MiB} bytes; "
        "the answer was refused"
    )
    assert after - before <= 3 * MiB, f"RSS grew by {(after - before) / MiB:.1f} MiB"
    assert stats.opened == 1 and stats.closed_broken == 0
    # One WARNING per refusal; not the SDK's ERROR with a traceback.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum("more than 1048576 bytes; refused" in r.getMessage() for r in caplog.records) == 2
    print(
        f"\n[{upstream.flavor}] 30 MiB answer refused in {took:.2f}s; RSS before "
        f"{before / MiB:.1f} MiB, after {after / MiB:.1f} MiB "
        f"(+{(after - before) / 1024:.0f} KiB; bound {MiB // 1024} KiB)"
    )


# -------------------------------------------------------------------------- 2. a credential change


async def test_a_credential_change_reaches_the_next_call(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    """Credentials written through the real records (a PUT of v1, then of v2 for the same
    name): the record's version moves, the next call sends v2, the v1 client is closed."""
    caplog.set_level(logging.INFO)
    store = MemoryMCPServerStore()
    records = CredentialRecords(MemorySecretStore(), store, MemoryEnterpriseMCPServerStore())
    fresh = _server(upstream.url, id=f"mcp_cred{upstream.flavor}", updated_at=T0)
    await store.create(msgspec.structs.replace(fresh, credentials_set=[]))
    v1 = await records.put(fresh, {"TOKEN": "secret-v1-8c1f"})

    def deletes() -> list[str]:
        secrets = {"secret-v1-8c1f", "secret-v2-d93e"}
        return [
            r["token"]
            for r in upstream.records()
            if r.get("http") == "DELETE" and r["token"] in secrets
        ]

    async with running_pool(records.resolve) as pool:
        first = json.loads(_text(await pool.call_tool("alice", v1, "echo", {})))
        v2 = await records.put(v1, {"TOKEN": "secret-v2-d93e"})
        assert v2.updated_at > v1.updated_at  # the record's version moved
        second = json.loads(_text(await pool.call_tool("alice", v2, "echo", {})))
        stats = pool.stats()
        if upstream.flavor == "legacy":  # the v1 client closes its session (DELETE, with v1)
            await _eventually(lambda: deletes() == ["secret-v1-8c1f"])
    assert (first["token"], second["token"]) == ("secret-v1-8c1f", "secret-v2-d93e")
    assert stats.opened == 2 and stats.closed_changed == 1
    if upstream.flavor == "legacy":  # and the v2 one when the pool stopped
        assert deletes() == ["secret-v1-8c1f", "secret-v2-d93e"]
    assert "secret-v1-8c1f" not in caplog.text and "secret-v2-d93e" not in caplog.text


async def test_a_changed_record_reopens_and_a_stale_one_does_not_stick(upstream: Upstream) -> None:
    creds = Credentials()
    server = _server(upstream.url, id="mcp_stale1")
    async with running_pool(creds) as pool:
        creds.values[server.id] = {"TOKEN": "old-4411"}
        await pool.call_tool("alice", server, "echo", {})
        creds.values[server.id] = {"TOKEN": "new-5522"}
        # Same record version: the open client (and its credentials) serve.
        same = json.loads(_text(await pool.call_tool("alice", server, "echo", {})))
        newer = msgspec.structs.replace(server, updated_at=T0 + timedelta(seconds=1))
        changed = json.loads(_text(await pool.call_tool("alice", newer, "echo", {})))
        assert pool.stats().opened == 2
    assert (same["token"], changed["token"]) == ("old-4411", "new-5522")


# A credential value that cannot be a header value (issue 22: h11 refused the first one and the
# pool's WARNING quoted it, `Illegal header value b'sk-live-LEAKME-123\\n'`), each in the
# spellings an exception's text would give it.
UNSENDABLE = [
    "sk-live-LEAKME-123\n",
    "sk-live-LEAKME-123\r\nX-Injected: 1",
    "sk-live-LEAKME-123\x00",
    "sk-live-LEAKME-123\x7f",
    "sk-live-LEAKMÉ-123",
    "sk-live-LEAKME-123 ",
    "sk-live-LEAKME-123\t",
    "sk-live-'LEAKME'\\-123\n",
]


@pytest.mark.parametrize("value", UNSENDABLE)
async def test_a_value_that_cannot_be_a_header_is_never_sent_nor_logged(
    upstreams: dict[str, Upstream], caplog: pytest.LogCaptureFixture, value: str
) -> None:
    caplog.set_level(logging.DEBUG)
    upstream = upstreams["modern"]
    creds = Credentials()
    server = _server(upstream.url, id="mcp_unsendable1", headers={"X-Key": "Bearer ${TOKEN}"})
    creds.values[server.id] = {"TOKEN": value}
    seen = len(upstream.records())
    async with running_pool(creds) as pool:
        with pytest.raises(UpstreamUnavailable):
            await pool.list_tools("alice", server)
    assert len(upstream.records()) == seen  # nothing was sent
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert "LEAKM" not in logged
    assert "'X-Key' (from ${TOKEN}) cannot be sent" in caplog.text  # what to fix, and where


# -------------------------------------------------------------------------------- 3. keys and caps


async def test_two_users_of_one_server_get_two_clients(upstream: Upstream) -> None:
    creds = Credentials()
    creds.per_user = True  # credentials that depend on who asks (resolved in their request)
    server = _server(upstream.url, id="mcp_shared1")
    seen: dict[str, list[str]] = {"alice": [], "bob": []}

    async def as_user(user: str) -> None:
        USER.set(user)
        for _ in range(3):
            result = json.loads(_text(await pool.call_tool(user, server, "echo", {"as": user})))
            seen[user].append(result["token"])

    async with running_pool(creds) as pool:
        async with anyio.create_task_group() as tg:
            tg.start_soon(as_user, "alice")
            tg.start_soon(as_user, "bob")
        stats = pool.stats()
    assert seen == {"alice": ["token-of-alice"] * 3, "bob": ["token-of-bob"] * 3}
    assert stats.open == 2 and stats.opened == 2 and stats.largest_per_user == 1
    if upstream.flavor == "legacy":  # two sessions, each only ever with its user's token
        tokens: dict[str, set[str]] = {}
        for r in upstream.records():
            if (
                r.get("http") == "POST"
                and r["session"]
                and r["token"] in {"token-of-alice", "token-of-bob"}
            ):
                tokens.setdefault(r["session"], set()).add(r["token"])
        assert sorted(map(sorted, tokens.values())) == [["token-of-alice"], ["token-of-bob"]]


async def test_per_user_cap_closes_the_least_recently_used(upstreams: dict[str, Upstream]) -> None:
    url = upstreams["modern"].url
    a, b, c = (_server(url, id=f"mcp_cap{x}", name=x) for x in "abc")
    async with running_pool(max_per_user=2) as pool:
        for server in (a, b, c):  # c evicts a
            await pool.call_tool("alice", server, "echo", {})
        assert (pool.stats().open, pool.stats().opened, pool.stats().closed_evicted) == (2, 3, 1)
        await pool.call_tool("alice", c, "echo", {})  # open: no new client
        await pool.call_tool("alice", b, "echo", {})
        assert pool.stats().opened == 3
        await pool.call_tool("alice", a, "echo", {})  # c is now the least recently used
        assert (pool.stats().opened, pool.stats().closed_evicted) == (4, 2)
        await pool.call_tool("alice", b, "echo", {})  # still open
        assert pool.stats().opened == 4
        await pool.call_tool("alice", c, "echo", {})  # was evicted: reopened
        assert pool.stats().opened == 5
        await pool.call_tool("bob", a, "echo", {})  # another user's cap is their own
        stats = pool.stats()
    assert (stats.open, stats.largest_per_user, stats.closed_evicted) == (3, 2, 3)


async def test_process_cap_closes_the_least_recently_used(upstreams: dict[str, Upstream]) -> None:
    url = upstreams["modern"].url
    a, b = _server(url, id="mcp_tota", name="a"), _server(url, id="mcp_totb", name="b")
    async with running_pool(max_total=3) as pool:
        for user, server in (("alice", a), ("alice", b), ("bob", a)):
            await pool.call_tool(user, server, "echo", {})
        await pool.call_tool("bob", b, "echo", {})  # the fourth: alice's `a` goes
        assert (pool.stats().open, pool.stats().closed_evicted) == (3, 1)
        await pool.call_tool("alice", b, "echo", {})  # still open
        assert pool.stats().opened == 4
        await pool.call_tool("alice", a, "echo", {})  # reopened, bob's `a` goes
        stats = pool.stats()
    assert (stats.open, stats.opened, stats.closed_evicted) == (3, 5, 2)


async def test_idle_clients_are_closed(upstreams: dict[str, Upstream]) -> None:
    url = upstreams["legacy"].url
    servers = [_server(url, id=f"mcp_idle{i}", name=f"i{i}") for i in range(2)]
    async with running_pool(idle_seconds=0.4) as pool:
        for server in servers:
            await pool.call_tool("alice", server, "echo", {})
        used = anyio.current_time()
        await _eventually(lambda: pool.stats().open == 0)
        idle_for = anyio.current_time() - used
        assert pool.stats().closed_idle == 2
        await pool.call_tool("alice", servers[0], "echo", {})  # opens again
        stats = pool.stats()
    assert 0.4 <= idle_for < 2.0
    assert (stats.open, stats.opened) == (1, 3)
    print(f"\nidle clients closed {idle_for:.2f}s after their last use (idle_seconds 0.4)")


# ------------------------------------------------------------------------------ 4. what is proxied


async def test_every_list_is_followed_through_its_pages(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.mcp_proxy.upstreams")
    server = _server(upstream.url, id=f"mcp_lists{upstream.flavor}", name="lists")
    before = len(upstream.records())
    async with running_pool() as pool:
        tools = await pool.list_tools("alice", server)
        resources = await pool.list_resources("alice", server)
        templates = await pool.list_resource_templates("alice", server)
        prompts = await pool.list_prompts("alice", server)
        echo = await pool.tool("alice", server, "echo")
        missing = await pool.tool("alice", server, "nope")
        prompt = await pool.prompt("alice", server, "p3")
        read = await pool.read_resource("alice", server, "memo://r2")
        got = await pool.get_prompt("alice", server, "p1", {"who": "Bob", "tone": "warm"})
        with pytest.raises(MCPError) as no_such:
            await pool.read_resource("alice", server, "memo://nope")
    assert [t.name for t in tools] == TOOLS
    assert [r.uri for r in resources] == RESOURCES
    assert [t.uri_template for t in templates] == TEMPLATES
    assert [p.name for p in prompts] == PROMPTS
    assert echo is not None and echo.name == "echo" and missing is None
    assert prompt is not None and prompt.name == "p3"
    [content] = read.contents
    assert isinstance(content, types.TextResourceContents) and content.text == "read memo://r2"
    [message] = got.messages
    assert isinstance(message.content, types.TextContent)
    assert message.content.text == 'p1 {"tone": "warm", "who": "Bob"}'
    assert (no_such.value.code, no_such.value.data) == (
        types.INVALID_PARAMS,
        {"uri": "memo://nope"},
    )
    pages = [r for r in upstream.records()[before:] if "cursor" in r]
    expected_pages = sum(
        -(-n // PAGE) for n in (len(TOOLS), len(RESOURCES), len(TEMPLATES), len(PROMPTS))
    )
    # `tool("nope")` listed the tools once more; `prompt("p3")` was known from the listing.
    assert len(pages) == expected_pages + -(-len(TOOLS) // PAGE)
    assert f"opened, protocol {PROTOCOL[upstream.flavor]}" in caplog.text


@pytest.mark.parametrize(
    ("per_page", "expected", "why"), [(2, 2 * MAX_PAGES, "pages"), (300, MAX_ITEMS, "prompts")]
)
async def test_a_listing_that_never_ends_is_cut(
    upstreams: dict[str, Upstream],
    caplog: pytest.LogCaptureFixture,
    per_page: int,
    expected: int,
    why: str,
) -> None:
    server = _server(
        upstreams["modern"].url, id=f"mcp_endless{per_page}", headers={"X-Endless": str(per_page)}
    )
    async with running_pool(timeout_seconds=20.0) as pool:
        prompts = await pool.list_prompts("alice", server)
    assert len(prompts) == expected
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().endswith("the rest is left out") and why in warning.getMessage()


# --------------------------------------------------------------------------------------- 5. errors


async def test_a_slow_upstream_is_unavailable_within_the_timeout(upstream: Upstream) -> None:
    server = _server(upstream.url, id=f"mcp_slow{upstream.flavor}", name="slow")
    async with running_pool(timeout_seconds=1.0) as pool:
        await pool.list_tools("alice", server)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable) as slow:
            await pool.call_tool("alice", server, "sleep", {"seconds": 5})
        took = time.monotonic() - started
        assert pool.stats().closed_broken == 1  # that client is dropped...
        assert _text(await pool.call_tool("alice", server, "echo", {}))  # ...and reopened
        stats = pool.stats()
    assert str(slow.value) == f"MCP server 'slow' (mcp_slow{upstream.flavor}) is unavailable"
    assert 1.0 <= took < 1.6
    assert stats.opened == 2
    print(f"\n[{upstream.flavor}] a 5 s tool, a 1 s timeout: UpstreamUnavailable after {took:.2f}s")


async def test_the_upstreams_own_errors_pass_through_and_keep_the_client(
    upstream: Upstream,
) -> None:
    server = _server(upstream.url, id=f"mcp_errs{upstream.flavor}")
    async with running_pool() as pool:
        with pytest.raises(MCPError) as refused:
            await pool.call_tool("alice", server, "fail", {})
        with pytest.raises(MCPError) as unknown:
            await pool.call_tool("alice", server, "no_such_tool", {})
        assert _text(await pool.call_tool("alice", server, "echo", {}))
        stats = pool.stats()
    assert (refused.value.code, refused.value.message, refused.value.data) == (
        -32003,
        "refused by the upstream",
        {"why": "a test"},
    )
    assert (unknown.value.code, unknown.value.message) == (
        types.INVALID_PARAMS,
        "Unknown tool: no_such_tool",
    )
    assert (stats.opened, stats.closed_broken) == (1, 0)


async def test_an_answer_that_breaks_its_own_schema_is_refused(upstream: Upstream) -> None:
    """Structured content against the tool's output schema, checked by the SDK once the
    tool is listed (as the handlers do: `tool()` before `call_tool()`)."""
    server = _server(upstream.url, id=f"mcp_shaped{upstream.flavor}", name="shaped")
    async with running_pool() as pool:
        assert await pool.tool("alice", server, "shaped") is not None
        with pytest.raises(UpstreamUnavailable) as invalid:
            await pool.call_tool("alice", server, "shaped", {})
        assert _text(await pool.call_tool("alice", server, "echo", {}))
        stats = pool.stats()
    assert invalid.value.reason == "invalid"
    assert str(invalid.value) == (
        f"MCP server 'shaped' (mcp_shaped{upstream.flavor}) gave an answer that is not valid MCP"
    )
    assert (stats.opened, stats.closed_broken) == (1, 0)


async def test_arguments_nested_too_deeply_are_the_callers_bad_request(upstream: Upstream) -> None:
    server = _server(upstream.url, id=f"mcp_deep{upstream.flavor}")
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(300):
        inner["a"] = {}
        inner = inner["a"]
    async with running_pool() as pool:
        await pool.call_tool("alice", server, "echo", {})
        calls = len(upstream.calls("echo"))
        with pytest.raises(MCPError) as bad:
            await pool.call_tool("alice", server, "echo", deep)
        assert len(upstream.calls("echo")) == calls  # never sent
        assert _text(await pool.call_tool("alice", server, "echo", {"ok": True}))
        stats = pool.stats()
    assert bad.value.code == types.INVALID_PARAMS
    assert (stats.opened, stats.closed_broken) == (1, 0)


async def test_an_unreachable_upstream_is_unavailable_and_logged_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = _server(
        f"http://127.0.0.1:{_free_port()}/mcp?key=query-secret-77", id="mcp_gone1", name="gone"
    )
    creds = Credentials()
    creds.values[server.id] = {"TOKEN": "header-secret-91"}
    async with running_pool(creds) as pool:
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable) as gone:
            await pool.list_tools("alice", server)
        took = time.monotonic() - started
        stats = pool.stats()
    assert str(gone.value) == "MCP server 'gone' (mcp_gone1) is unavailable"
    assert took < 2 and stats.open == 0
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "mcp_gone1" in warnings and "[Errno 111]" in warnings  # the detail is in the log
    assert "query-secret-77" not in caplog.text and "header-secret-91" not in caplog.text


async def test_an_upstream_restart_costs_no_failed_call(tmp_path: Path) -> None:
    """A stateful upstream forgets the client's session when it restarts (404): the pool
    opens a new client and sends the request again, once."""
    with _upstream("legacy", tmp_path) as upstream:
        server = _server(upstream.url, id="mcp_restart1")
        async with running_pool() as pool:
            await pool.call_tool("alice", server, "echo", {})
            upstream.stop()
            upstream.start()
            assert _text(await pool.call_tool("alice", server, "echo", {"after": "restart"}))
            stats = pool.stats()
    assert (stats.opened, stats.closed_broken) == (2, 1)


async def test_the_sse_transport(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Lists, calls with the server's headers, the byte bound. On this transport every
    answer comes on the one event stream, so one too large ends that client (the next
    request opens another): still no more memory than the bound."""
    with _upstream("sse", tmp_path) as upstream:
        server = _server(upstream.url, id="mcp_sse1", name="old")
        async with running_pool() as pool:
            assert [t.name for t in await pool.list_tools("alice", server)] == TOOLS
            assert json.loads(_text(await pool.call_tool("alice", server, "echo", {})))["token"]
            await pool.call_tool("alice", server, "big", {"bytes": 900_000})
            before = _rss()
            with pytest.raises(UpstreamUnavailable):
                await pool.call_tool("alice", server, "big", {"bytes": 30 * MiB})
            after = _rss()
            assert _text(await pool.call_tool("alice", server, "echo", {}))
            stats = pool.stats()
    assert after - before <= 3 * MiB
    assert (stats.opened, stats.closed_broken) == (2, 1)
    assert "tok-7f3a9c" not in caplog.text
    print(f"\n[sse] 30 MiB answer refused; RSS +{(after - before) / 1024:.0f} KiB")


# ------------------------------------------------------------------------------------ 6. the guard


async def test_the_guard_refuses_internal_addresses_unless_allowed(
    upstreams: dict[str, Upstream],
) -> None:
    upstream = upstreams["modern"]
    refused = guarded_client(reach=UpstreamReach(), timeout=httpx2.Timeout(5))
    allowed = guarded_client(reach=UpstreamReach(everything=True), timeout=httpx2.Timeout(5))
    seen = len(upstream.records())
    async with refused, allowed:
        with pytest.raises(httpx2.ConnectError) as caught:
            await refused.get(upstream.url)
        # A name is resolved and its address checked: `localhost` is 127.0.0.1 too.
        with pytest.raises(httpx2.ConnectError):
            await refused.get(upstream.url.replace("127.0.0.1", "localhost"))
        assert len(upstream.records()) == seen  # nothing reached it
        reached = await allowed.post(
            upstream.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
        )
    assert isinstance(caught.value.__cause__ or caught.value.__context__, UpstreamRefused)
    assert "loopback" in str(caught.value)
    assert reached.status_code != 0 and len(upstream.records()) == seen + 1
    # And through the pool: the server is unavailable, the upstream hears nothing.
    async with running_pool(reach=UpstreamReach()) as pool:
        with pytest.raises(UpstreamUnavailable):
            await pool.list_tools("alice", _server(upstream.url, id="mcp_private1"))
    assert len(upstream.records()) == seen + 1


# Not globally reachable although `is_private` is False for most (issue 22): the guard asked
# `is_private`, and connected. Refused before any connection is attempted.
NOT_GLOBAL = [
    "100.100.100.200",
    "100.64.0.1",
    "192.0.0.192",
    "[fec0::1]",
    "[64:ff9b::a00:1]",
    "[2002:a9fe:a9fe::1]",
    "[::ffff:127.0.0.1]",
    "0.0.0.0",
    "198.18.0.1",
]


@pytest.mark.parametrize("host", NOT_GLOBAL)
async def test_the_guard_refuses_every_address_that_is_not_global(host: str) -> None:
    async with guarded_client(reach=UpstreamReach(), timeout=httpx2.Timeout(3)) as client:
        with pytest.raises(httpx2.ConnectError) as caught:
            await client.get(f"http://{host}:9/mcp")
    assert isinstance(caught.value.__cause__ or caught.value.__context__, UpstreamRefused)


async def test_the_guard_reaches_the_listed_private_ranges_only(
    upstreams: dict[str, Upstream],
) -> None:
    """GATEWAY_PRIVATE_UPSTREAM_CIDRS: an address inside a listed range is reached, any other
    non-global one is still refused."""
    upstream = upstreams["modern"]
    listed = UpstreamReach(networks=parse_private_networks(["127.0.0.0/8"]))
    other = UpstreamReach(networks=parse_private_networks(["10.20.0.0/16", "fd00:1::/64"]))
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    seen = len(upstream.records())
    async with guarded_client(reach=listed, timeout=httpx2.Timeout(5)) as client:
        reached = await client.post(upstream.url, json=ping)
        with pytest.raises(httpx2.ConnectError) as metadata:
            await client.get("http://169.254.169.254:9/")
    async with guarded_client(reach=other, timeout=httpx2.Timeout(5)) as client:
        with pytest.raises(httpx2.ConnectError) as loopback:
            await client.post(upstream.url, json=ping)
    assert reached.status_code != 0 and len(upstream.records()) == seen + 1
    for caught in (metadata, loopback):
        assert isinstance(caught.value.__cause__ or caught.value.__context__, UpstreamRefused)
    assert "GATEWAY_PRIVATE_UPSTREAM_CIDRS" in str(loopback.value)


if __name__ == "__main__":  # pragma: no cover
    _serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
    os._exit(0)
