"""Issue 23: what a hosted stdio server's code cannot do. Each test runs Python inside the
sandbox (the stdlib server's `run` tool: a hosted server is untrusted code) and checks that
the gateway's files, the host's network services, the rest of the file system and other
users' sandboxes are out of reach, and that a fork bomb and a memory hog stay bounded while
the gateway keeps serving."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.sandbox import Workspaces
from tests.fixtures.gateway import JWT_SECRET
from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import ServedGateway
from tests.mcp_proxy.stdio_hosting import (
    hosting_gateway,
    sandboxes_possible,
    stdio_servers_dir,
    stdlib_server,
    workspace_root,
)

# The sandbox's walls, not a policy decision: the OPA pass skips it (tests/conftest.py).
pytestmark = [
    pytest.mark.skipif(not sandboxes_possible(), reason="needs root and bubblewrap"),
    pytest.mark.engine_independent,
]
GATEWAY_SOURCE = Path(__file__).resolve().parents[2] / "gateway" / "config.py"


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with workspace_root() as found:
        yield found


@pytest.fixture(scope="module")
def gateway(request: pytest.FixtureRequest, root: str) -> Iterator[ServedGateway]:
    with hosting_gateway(request, root) as served:
        yield served


@pytest.fixture(scope="module")
def jwt_secret_file() -> Iterator[Path]:
    """The gateway's JWT secret in a file, as a deployment keeps it; world-readable even, so
    only the sandbox's view of the file system keeps it out of reach."""
    with tempfile.TemporaryDirectory(prefix="gw-secret-", dir="/tmp") as folder:
        os.chmod(folder, 0o755)
        path = Path(folder) / "jwt_secret"
        path.write_text(JWT_SECRET)
        path.chmod(0o644)
        yield path


async def _hosted(gateway: ServedGateway, user: str) -> str:
    async with api(gateway.base_url, user) as client:
        created = await client.post("/v1/mcp-servers", json=stdlib_server())
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


async def _inside(gateway: ServedGateway, user: str, code: str) -> object:
    """Run `code` in `user`'s sandbox; its `result`, as JSON."""
    async with mcp_session(gateway.mcp_url, user) as client:
        called = await client.call_tool("stdlib__run", {"code": code})
    text = str(called.content[0].text)  # type: ignore[union-attr]
    try:
        return json.loads(text)
    except ValueError:
        raise AssertionError(f"the sandbox said: {text}") from None


_TRY_READ = """
import json
def attempt(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return "READ"
    except Exception as e:
        return type(e).__name__
result = json.dumps({p: attempt(p) for p in PATHS})
"""


async def test_the_gateways_files_cannot_be_read(
    gateway: ServedGateway, jwt_secret_file: Path
) -> None:
    await _hosted(gateway, "mallory")
    paths = [
        str(jwt_secret_file),
        str(Path(sys.prefix) / "pyvenv.cfg"),  # the gateway's venv
        sys.executable,
        str(GATEWAY_SOURCE),
        "/etc/shadow",
        "/etc/passwd",
        "/root/.bash_history",
        "/proc/1/root/etc/hostname",
    ]
    seen = await _inside(gateway, "mallory", f"PATHS = {paths!r}\n{_TRY_READ}")
    assert isinstance(seen, dict)
    assert {p for p, how in seen.items() if how == "READ"} == set(), seen
    # Its /proc shows the sandbox's processes only, none of the host's.
    listed = await _inside(
        gateway,
        "mallory",
        "import os, json\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "cmds = [open(f'/proc/{p}/cmdline', 'rb').read().decode(errors='replace') for p in pids]\n"
        "result = json.dumps(cmds)",
    )
    assert isinstance(listed, list) and len(listed) <= 4, listed
    assert not [c for c in listed if "pytest" in c or "uvicorn" in c or "redis" in c], listed


async def test_nothing_outside_the_workspace_and_tmp_can_be_written(
    gateway: ServedGateway, root: str
) -> None:
    server_id = await _hosted(gateway, "mallory-w")
    marker = f"escape-{os.getpid()}"
    targets = [
        f"/{marker}",
        f"/usr/{marker}",
        f"/etc/{marker}",
        f"/var/tmp/{marker}",
        f"{root}/{marker}",
        *[f"{p}/{marker}" for p in [stdio_servers_dir()] if p],
        f"/tmp/{marker}",  # private: written, but never the host's /tmp
        f"/workspace/{marker}",  # the one place that persists
    ]
    seen = await _inside(
        gateway,
        "mallory-w",
        f"import json\nTARGETS = {targets!r}\n"
        "def attempt(path):\n"
        "    try:\n"
        "        with open(path, 'w') as f:\n"
        "            f.write('x')\n"
        "        return 'WROTE'\n"
        "    except Exception as e:\n"
        "        return type(e).__name__\n"
        "result = json.dumps({t: attempt(t) for t in TARGETS})",
    )
    assert isinstance(seen, dict)
    wrote = {t for t, how in seen.items() if how == "WROTE"}
    assert wrote == {f"/tmp/{marker}", f"/workspace/{marker}"}, seen
    kept = Workspaces(root).of("mallory-w", server_id).workspace / marker
    assert _on_host([f"/tmp/{marker}", f"/{marker}", f"{root}/{marker}", str(kept)]) == {str(kept)}


def _on_host(paths: list[str]) -> set[str]:
    return {p for p in paths if os.path.exists(p)}


async def test_the_hosts_services_on_loopback_cannot_be_reached(
    gateway: ServedGateway, request: pytest.FixtureRequest
) -> None:
    await _hosted(gateway, "mallory-n")
    openbao = request.getfixturevalue("openbao")
    redis_url = request.getfixturevalue("redis_url")
    ports = {
        "gateway": urlsplit(gateway.base_url).port,
        "redis": urlsplit(redis_url).port,
        "vault": urlsplit(openbao.addr).port,
    }
    seen = await _inside(
        gateway,
        "mallory-n",
        f"import json, socket\nPORTS = {ports!r}\n"
        "def attempt(host, port):\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=2).close()\n"
        "        return 'CONNECTED'\n"
        "    except Exception as e:\n"
        "        return type(e).__name__\n"
        "seen = {name: attempt('127.0.0.1', port) for name, port in PORTS.items()}\n"
        "seen['outside'] = attempt('1.1.1.1', 443)\n"
        "result = json.dumps(seen)",
    )
    assert isinstance(seen, dict)
    assert {name for name, how in seen.items() if how == "CONNECTED"} == set(), seen


async def test_another_users_workspace_is_out_of_reach(gateway: ServedGateway, root: str) -> None:
    bobs = await _hosted(gateway, "bob-w")
    await _inside(
        gateway, "bob-w", "open('/workspace/diary.txt', 'w').write('private'); result = '\"ok\"'"
    )
    bob_home = Workspaces(root).of("bob-w", bobs)
    assert (bob_home.workspace / "diary.txt").read_text() == "private"
    await _hosted(gateway, "mallory-x")
    paths = [
        str(bob_home.workspace / "diary.txt"),
        str(bob_home.home),
        root,
        "/workspace/diary.txt",
    ]
    seen = await _inside(
        gateway,
        "mallory-x",
        f"import json, os\nPATHS = {paths!r}\n"
        "def attempt(p):\n"
        "    try:\n"
        "        if os.path.isdir(p):\n"
        "            return 'LISTED' if os.listdir(p) else 'EMPTY'\n"
        "        return open(p).read(1) and 'READ'\n"
        "    except Exception as e:\n"
        "        return type(e).__name__\n"
        "result = json.dumps({p: attempt(p) for p in PATHS})",
    )
    assert isinstance(seen, dict)
    assert set(seen.values()) <= {"FileNotFoundError", "PermissionError"}, seen
    # On the host, each sandbox's directory is its own uid's, closed to others.
    mine = Workspaces(root).of("mallory-x", "x")
    assert bob_home.home.stat().st_mode & 0o777 == 0o700
    assert bob_home.home.stat().st_uid == bob_home.uid != mine.uid


_FORK_BOMB = """
import json, os, signal, subprocess, sys, time
BOMB = "import os, time\\nwhile True:\\n    try:\\n        os.fork()\\n    except OSError:\\n"
bomb = subprocess.Popen([sys.executable, "-c", BOMB + "        time.sleep(0.05)"])
time.sleep(1.5)
try:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    fork = "forked"
except OSError as e:
    fork = type(e).__name__
count = len([p for p in os.listdir("/proc") if p.isdigit()])
os.kill(-1, signal.SIGKILL)  # every other process of this sandbox
time.sleep(0.2)
result = json.dumps({"fork": fork, "processes": count})
"""


async def test_a_fork_bomb_is_bounded_and_the_gateway_keeps_serving(
    gateway: ServedGateway,
) -> None:
    await _hosted(gateway, "mallory-f")
    await _hosted(gateway, "bystander-f")
    seen = await _inside(gateway, "mallory-f", _FORK_BOMB)
    assert isinstance(seen, dict)
    assert seen["fork"] == "BlockingIOError", seen  # EAGAIN: RLIMIT_NPROC reached
    assert seen["processes"] <= 64 + 2, seen  # GATEWAY_STDIO_MAX_PROCESSES (64 here)
    # The gateway, another user's server and the bomber's own server all still answer.
    async with mcp_session(gateway.mcp_url, "bystander-f") as client:
        echoed = await client.call_tool("stdlib__echo", {"text": "still here"})
        assert echoed.content[0].text == "still here"  # type: ignore[union-attr]
    assert await _inside(gateway, "mallory-f", "result = '\"alive\"'") == "alive"


async def test_a_memory_hog_is_bounded_and_the_gateway_keeps_serving(
    gateway: ServedGateway,
) -> None:
    await _hosted(gateway, "mallory-m")
    seen = await _inside(
        gateway,
        "mallory-m",
        "import json\n"
        "chunks = []\n"
        "try:\n"
        "    while True:\n"
        "        chunks.append(bytearray(128 * 2**20))\n"
        "except MemoryError:\n"
        "    pass\n"
        "got = len(chunks) * 128\n"
        "chunks.clear()\n"
        "try:\n"
        "    bytearray(3 * 2**30)\n"
        "    big = 'allocated'\n"
        "except MemoryError:\n"
        "    big = 'MemoryError'\n"
        "result = json.dumps({'mib': got, 'big': big})",
    )
    assert isinstance(seen, dict)
    assert seen["big"] == "MemoryError"
    assert 0 < seen["mib"] < 2048, seen  # GATEWAY_STDIO_MEMORY_BYTES: 2 GiB here
    async with api(gateway.base_url, "mallory-m") as client:
        assert (await client.get("/v1/mcp-servers")).status_code == 200
