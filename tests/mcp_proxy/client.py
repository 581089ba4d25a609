"""MCP clients for the proxy's tests, pointed at a URL with a bearer token:

- `mcp_client(url, token, mode)`: the official Python SDK 2.x `mcp.Client`, entered, with no
  response cache. `mode="auto"` negotiates (2026-07-28 from a server that speaks it),
  `mode="legacy"` forces the 2025 handshake (it offers 2025-11-25).
- `handshake_client(url, token, version)`: a `ClientSession` after a handshake at an older
  revision (2025-03-26, 2025-06-18), which `Client` cannot offer.
- `ResponseLog`: an httpx2 response hook recording each HTTP exchange (the JSON-RPC method
  sent, the status and the response's headers: which replica served it).
- `run_rounds(peer, plan)`: rounds of tools/list+call, resources/list+read, prompts/list+get
  with either Python client, reported as `ts_client.mjs` reports the TypeScript ones
  (`run_ts_client`), so one test checks all of them alike.
- `api(base_url, user)`: the gateway's /v1 API as `user`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client, ClientSession, MCPError
from mcp import types as mcp_types
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
TS_DRIVER = Path(__file__).with_name("ts_client.mjs")
HANDSHAKE_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")


@dataclass
class Exchange:
    """One HTTP request a client made and the head of its response."""

    http_method: str
    mcp_method: str | None  # the JSON-RPC method of the body sent (None: GET, DELETE)
    status: int | None
    headers: dict[str, str]  # the response's, names lower-case

    @classmethod
    def from_ts(cls, seen: Mapping[str, Any]) -> Exchange:
        return cls(seen["httpMethod"], seen["mcpMethod"], seen["status"], dict(seen["headers"]))


@dataclass
class ResponseLog:
    """An httpx2 `response` event hook: every exchange of one client, in the order the
    responses arrived (`http_client(..., log=ResponseLog())`)."""

    exchanges: list[Exchange] = field(default_factory=list)

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        method = None
        try:
            body = json.loads(request.content) if request.content else None
        except (ValueError, httpx2.RequestNotRead):
            body = None
        if isinstance(body, dict):
            method = body.get("method")
        headers = {k.lower(): v for k, v in response.headers.items()}
        self.exchanges.append(Exchange(request.method, method, response.status_code, headers))


def http_client(
    token: str, *, log: ResponseLog | None = None, headers: Mapping[str, str] | None = None
) -> httpx2.AsyncClient:
    """The httpx2 client the SDK's transport uses: the bearer token, `headers`, the hook."""
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        timeout=httpx2.Timeout(20, read=60),
        event_hooks={"response": [log]} if log is not None else None,
    )


@asynccontextmanager
async def mcp_client(
    url: str,
    token: str,
    mode: str = "auto",
    *,
    log: ResponseLog | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Client]:
    """An entered `mcp.Client` (no response cache: every call reaches the server)."""
    async with http_client(token, log=log, headers=headers) as http:
        client = Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            cache=None,
            read_timeout_seconds=60,
            client_info=mcp_types.Implementation(name="gateway-test-py", version="2"),
        )
        async with client:
            yield client


@asynccontextmanager
async def handshake_client(
    url: str,
    token: str,
    version: str = "2025-03-26",
    *,
    log: ResponseLog | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[ClientSession]:
    """A `ClientSession` after an `initialize` offering `version` (the server may answer
    another: read `session.protocol_version`)."""
    async with (
        http_client(token, log=log, headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=60) as session,
    ):
        result = await session.send_request(
            mcp_types.InitializeRequest(
                params=mcp_types.InitializeRequestParams(
                    protocol_version=version,
                    capabilities=mcp_types.ClientCapabilities(),
                    client_info=mcp_types.Implementation(name="gateway-test-py-old", version="2"),
                )
            ),
            mcp_types.InitializeResult,
        )
        session.adopt(result)
        await session.send_notification(mcp_types.InitializedNotification())
        yield session


@asynccontextmanager
async def mcp_session(
    url: str, user: str, mode: str = "auto", **claims: Any
) -> AsyncIterator[Client]:
    """`mcp_client` as `user` (a token minted for the test gateway)."""
    from tests.fixtures.gateway import token_for  # (imports the gateway app: only when used)

    async with mcp_client(url, token_for(user, **claims), mode) as client:
        yield client


# ---- rounds ---------------------------------------------------------------------------------


def plan(
    *,
    rounds: int = 10,
    tool: str = "read_file",
    arguments: Mapping[str, Any] | None = None,
    resource: str,
    prompt: str = "greet",
    prompt_arguments: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What each round uses, for `run_rounds` and `run_ts_client` alike. An item is the first
    listed whose name (URI) is the one given or ends with it (a proxy's prefix is fine)."""
    return {
        "rounds": rounds,
        "tool": {"name": tool, "arguments": dict(arguments or {"path": "/tmp/x"})},
        "resource": {"uri": resource},
        "prompt": {"name": prompt, "arguments": dict(prompt_arguments or {"person": "Ann"})},
    }


@dataclass
class RoundsReport:
    """What one client saw: the negotiated version, per round what it listed and got, every
    failure ({round, step, code, message, data}) and every HTTP exchange."""

    client: str
    protocol_version: str | None
    rounds: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    exchanges: list[Exchange]

    @classmethod
    def from_ts(cls, name: str, seen: Mapping[str, Any]) -> RoundsReport:
        rounds = [
            {
                "tools": r.get("tools"),
                "call": _text((r.get("call") or {}).get("content")),
                "resources": r.get("resources"),
                "read": _text((r.get("read") or {}).get("contents")),
                "prompts": r.get("prompts"),
                "prompt": _text(
                    [m.get("content") for m in (r.get("prompt") or {}).get("messages", [])]
                ),
            }
            for r in seen["rounds"]
        ]
        exchanges = [Exchange.from_ts(e) for e in seen["exchanges"]]
        return cls(name, seen["protocolVersion"], rounds, list(seen["errors"]), exchanges)


def _text(blocks: Any) -> str | None:
    for block in blocks or []:
        text = block.get("text") if isinstance(block, Mapping) else getattr(block, "text", None)
        if text is not None:
            return str(text)
    return None


def _pick(names: list[str], wanted: str) -> str:
    if wanted in names:
        return wanted
    for name in names:
        if name.endswith(wanted):
            return name
    raise LookupError(f"nothing listed is named like {wanted!r}: {names}")


async def _list_all(peer: Client | ClientSession, method: str, field_: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(100):
        if isinstance(peer, Client):
            page = await getattr(peer, method)(cursor=cursor)
        else:
            page = await getattr(peer, method)(
                params=mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
            )
        items.extend(getattr(page, field_))
        cursor = page.next_cursor
        if not cursor:
            return items
    raise RuntimeError(f"{method}: more than 100 pages")


async def _step(errors: list[dict[str, Any]], round_: int, what: str, call: Any) -> Any:
    """`await call()`; a failure, whatever it is, is recorded in `errors` (None returned)."""
    try:
        return await call()
    except MCPError as error:
        failure = {"code": error.code, "message": error.message, "data": error.data}
    except Exception as error:  # a failure to count, whatever it is
        failure = {"code": type(error).__name__, "message": str(error), "data": None}
    errors.append({"round": round_, "step": what, **failure})
    return None


async def _round(
    peer: Client | ClientSession, plan: Mapping[str, Any], round_: int, errors: list[dict[str, Any]]
) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    tools = await _step(
        errors, round_, "tools/list", lambda: _list_all(peer, "list_tools", "tools")
    )
    seen["tools"] = [t.name for t in tools] if tools is not None else None
    tool = plan["tool"]
    called = await _step(
        errors,
        round_,
        "tools/call",
        lambda: peer.call_tool(_pick(seen["tools"] or [], tool["name"]), tool["arguments"]),
    )
    seen["call"] = _text(called.content) if called is not None else None
    resources = await _step(
        errors, round_, "resources/list", lambda: _list_all(peer, "list_resources", "resources")
    )
    seen["resources"] = [str(r.uri) for r in resources] if resources is not None else None
    uri = plan["resource"]["uri"]
    read = await _step(
        errors,
        round_,
        "resources/read",
        lambda: peer.read_resource(_pick(seen["resources"] or [], uri)),
    )
    seen["read"] = _text(read.contents) if read is not None else None
    prompts = await _step(
        errors, round_, "prompts/list", lambda: _list_all(peer, "list_prompts", "prompts")
    )
    seen["prompts"] = [p.name for p in prompts] if prompts is not None else None
    prompt = plan["prompt"]
    got = await _step(
        errors,
        round_,
        "prompts/get",
        lambda: peer.get_prompt(_pick(seen["prompts"] or [], prompt["name"]), prompt["arguments"]),
    )
    seen["prompt"] = _text([m.content for m in got.messages]) if got is not None else None
    return seen


async def run_rounds(
    name: str, peer: Client | ClientSession, plan: Mapping[str, Any], log: ResponseLog
) -> RoundsReport:
    """`plan["rounds"]` rounds with `peer`; a failing step is recorded, never raised."""
    errors: list[dict[str, Any]] = []
    rounds = [await _round(peer, plan, i, errors) for i in range(plan["rounds"])]
    return RoundsReport(name, peer.protocol_version, rounds, errors, list(log.exchanges))


@functools.cache
def ts_sdk_dir() -> str | None:
    """Where scripts/mcp-sdk-ts installed both TypeScript SDKs; None without Node.js."""
    done = subprocess.run(
        [str(REPO / "scripts" / "mcp-sdk-ts")], capture_output=True, text=True, timeout=300
    )
    if done.returncode == 3:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"scripts/mcp-sdk-ts failed:\n{done.stderr}")
    return done.stdout.strip()


async def run_ts_client(
    sdk_dir: str, url: str, token: str, plan: Mapping[str, Any] | list[Any]
) -> dict[str, Any]:
    """ts_client.mjs with `plan`; its JSON document."""
    proc = await asyncio.create_subprocess_exec(
        "node", str(TS_DRIVER), url, token, json.dumps(plan),
        env={**os.environ, "MCP_SDK_DIR": sdk_dir},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"ts_client.mjs exited {proc.returncode}:\n{err.decode()}")
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def api(base_url: str, user: str, **claims: Any) -> httpx.AsyncClient:
    """The gateway's /v1 API as `user`."""
    from tests.fixtures.gateway import token_for

    token = token_for(user, **claims)
    return httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
