"""What the stdio hosting tests share: a gateway that hosts stdio servers (Redis, Vault,
bubblewrap sandboxes under a throwaway workspace root), and servers to host."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Settings
from tests.fixtures.gateway import JWT_SECRET
from tests.mcp_proxy.peers import ServedGateway, served_gateway

REPO = Path(__file__).resolve().parents[2]
STDLIB_SERVER = (Path(__file__).parent / "stdio_servers" / "stdlib_server.py").read_text()
SDK_SERVER = (Path(__file__).parent / "stdio_servers" / "sdk_server.py").read_text()
EVERYTHING = "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
FILESYSTEM = "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
PYTHON = "/usr/bin/python3"  # the system's: the sandbox shows /usr, never the gateway's venv
# Node needs about 2 GiB of address space (V8 reserves it); Python far less.
TEST_MEMORY_BYTES = 2 * 1024**3


@functools.cache
def stdio_servers_dir() -> str | None:
    """Where scripts/stdio-servers installed the pinned servers; None without Node.js."""
    done = subprocess.run(
        [str(REPO / "scripts" / "stdio-servers")], capture_output=True, text=True, timeout=600
    )
    if done.returncode == 3:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"scripts/stdio-servers failed:\n{done.stderr}")
    return done.stdout.strip()


def sandboxes_possible() -> bool:
    return os.geteuid() == 0 and all(
        os.access(tool, os.X_OK) for tool in ("/usr/bin/bwrap", "/usr/bin/setpriv")
    )


@contextmanager
def workspace_root() -> Iterator[str]:
    """Not under pytest's tmp_path: that is 0700, and each sandbox's uid must pass through."""
    root = tempfile.mkdtemp(prefix="gw-stdio-", dir="/tmp")
    os.chmod(root, 0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def hosting_gateway(
    request: pytest.FixtureRequest, root: str, **overrides: Any
) -> Iterator[ServedGateway]:
    """A gateway on Redis and OpenBao (the session's throwaway ones) hosting stdio servers."""
    openbao = request.getfixturevalue("openbao")
    on_opa = request.config.getoption("--engine") == "opa"
    opa_url = request.getfixturevalue("opa_url") if on_opa else None
    readonly = tuple(p for p in [stdio_servers_dir()] if p)
    fields: dict[str, Any] = {
        "jwt_secret": JWT_SECRET,
        "redis_url": request.getfixturevalue("redis_url"),
        "vault_addr": openbao.addr,
        "vault_token": openbao.token,
        "opa_url": opa_url,
        "stdio_hosting": "true",
        "stdio_workspace_dir": root,
        "stdio_readonly_paths": readonly,
        "stdio_memory_bytes": TEST_MEMORY_BYTES,
        "stdio_max_processes": 64,
        "mcp_upstream_timeout_seconds": 20.0,
        **overrides,
    }
    with served_gateway(Settings(**fields)) as gateway:
        yield gateway


def stdlib_server(name: str = "stdlib", env: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "transport": "stdio",
        "command": PYTHON,
        "args": ["-c", STDLIB_SERVER],
        "env": env or [],
    }


def sdk_server(servers_dir: str, name: str = "sdk") -> dict[str, Any]:
    """The Python SDK server, its package from the read-only cache."""
    path_line = f"import sys; sys.path.insert(0, {servers_dir + '/py'!r})\n"
    return {
        "name": name,
        "transport": "stdio",
        "command": PYTHON,
        "args": ["-c", path_line + SDK_SERVER],
    }


def npm_server(servers_dir: str, name: str, script: str, *args: str) -> dict[str, Any]:
    return {
        "name": name,
        "transport": "stdio",
        "command": "/usr/bin/node",
        "args": [f"{servers_dir}/{script}", *args],
    }


def processes_of(uid: int) -> int:
    """How many of the host's processes run as `uid` (a sandbox's)."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # gone meanwhile
        uids = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "Uid: -1")
        count += int(uids.split()[1]) == uid
    return count
