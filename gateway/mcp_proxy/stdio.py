"""Stdio servers hosted by the gateway: the transport the upstream pool opens for a server
with `transport: stdio` (docs/stdio-hosting.md).

The process is the SDK's stdio client's (`mcp.client.stdio`), given the sandbox's command line
(gateway/sandbox) instead of the server's command: the SDK speaks MCP over its stdin and
stdout, and stops it (stdin closed, then SIGTERM, then SIGKILL to its process group) when the
client closes. What it writes on stderr goes to this module's log, line by line, bounded, with
every credential value masked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from secrets import token_hex

import anyio
from mcp.client.stdio import StdioServerParameters, stdio_client

from gateway.domain.servers import AnyServer
from gateway.sandbox import Limits, SandboxSpec, Workspaces, command_line

log = logging.getLogger(__name__)

# A server's stderr: lines longer than this are cut, and at most this many lines are logged
# per window (a chatty or hostile server cannot flood the gateway's log).
MAX_LINE_CHARS = 2000
MAX_LINES_PER_WINDOW = 100
WINDOW_SECONDS = 10.0
UNENDED_LINE_BYTES = 65536


@dataclass
class StdioHosting:
    """What the pool needs to host stdio servers (None in the pool: hosting is off)."""

    workspaces: Workspaces
    limits: Limits
    readonly_paths: tuple[str, ...]
    idle_seconds: float
    max_per_user: int
    max_total: int
    # Workspace preparation is blocking file work: a few threads, not the default pool.
    threads: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(4))


@asynccontextmanager
async def sandboxed(
    hosting: StdioHosting,
    user_id: str,
    server: AnyServer,
    env: dict[str, str],
    *,
    egress: bool,
    label: str,
    secrets: tuple[str, ...],
) -> AsyncIterator[object]:
    """The SDK's stdio transport (its read and write streams) to the server running in a
    sandbox of its own; the sandbox stops when this exits."""
    if not server.command:
        raise ValueError("a stdio server without a command")
    place = hosting.workspaces.of(user_id, server.id, instance=token_hex(8))
    await anyio.to_thread.run_sync(hosting.workspaces.prepare, place, env, limiter=hosting.threads)
    argv = command_line(
        SandboxSpec(
            command=server.command,
            args=list(server.args),
            host_uid=place.uid,
            workspace=str(place.workspace),
            env_file=str(place.env_file),
            egress=egress,
            limits=hosting.limits,
            readonly_paths=hosting.readonly_paths,
        )
    )
    read_end, write_end = os.pipe()
    errlog = os.fdopen(write_end, "w")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_log_stderr, read_end, label, secrets)
            read_end = -1  # the reader owns it now
            try:
                # env=None: prlimit, setpriv and bwrap get the SDK's few safe variables;
                # the server's own come from the env file, inside.
                async with stdio_client(
                    StdioServerParameters(command=argv[0], args=argv[1:]), errlog=errlog
                ) as streams:
                    errlog.close()  # the process holds its own copy: EOF when it is gone
                    log.info("stdio %s: started (egress %s)", label, "on" if egress else "off")
                    yield streams
            finally:
                errlog.close()
                tg.cancel_scope.cancel()
    finally:
        if read_end >= 0:
            os.close(read_end)
        errlog.close()
        await anyio.to_thread.run_sync(
            hosting.workspaces.forget_env, place, limiter=hosting.threads
        )


# The SDK's stdio client logs a stdout line it cannot parse with the exception, whose text
# quotes the line: a server printing its credentials there would put them in the log.
SDK_LOGGER = "mcp.client.stdio"


class WithoutServerOutput(logging.Filter):
    """Keeps the SDK's record (that a line was not JSON-RPC), drops the quoted output."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text:
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.getMessage()} (the server's output is not logged)"
            record.args = ()
        return True


async def _log_stderr(fd: int, label: str, secrets: tuple[str, ...]) -> None:
    os.set_blocking(fd, False)
    buffer = b""
    window_start = anyio.current_time()
    logged = dropped = 0
    try:
        while True:
            await anyio.wait_readable(fd)
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            if len(buffer) > UNENDED_LINE_BYTES:  # a line without end: cut it here
                lines.append(buffer)
                buffer = b""
            for raw in lines:
                now = anyio.current_time()
                if now - window_start >= WINDOW_SECONDS:
                    if dropped:
                        log.warning("stdio %s: %d stderr lines not logged", label, dropped)
                    window_start, logged, dropped = now, 0, 0
                if logged >= MAX_LINES_PER_WINDOW:
                    dropped += 1
                    continue
                logged += 1
                log.info("stdio %s: %s", label, _masked(raw, secrets))
        if buffer:
            log.info("stdio %s: %s", label, _masked(buffer, secrets))
    finally:
        os.close(fd)


def _masked(raw: bytes, secrets: tuple[str, ...]) -> str:
    text = raw.decode(errors="replace").rstrip("\r")
    for secret in secrets:  # before cutting: a cut secret would not be found
        text = text.replace(secret, "***")
    return text[:MAX_LINE_CHARS]
