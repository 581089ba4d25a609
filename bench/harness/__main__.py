"""Throughput and latency of the gateway's hot endpoints under wrk, next to a bare Litestar app.

One command: `./scripts/bench [options]` (installs wrk and redis-server with apt when missing,
the venv with the test and bench extras, then runs `.venv/bin/python -m bench.harness`).

Each run starts a throwaway redis-server and the gateway as a real process (`python -m
gateway.cli serve`: embedded engine, HS256 auth, the decision log on in Redis, WARNING logs)
on a free port; seeds a tenant through the HTTP API; then, per endpoint, a discarded wrk
warm-up and a measured wrk run (closed loop: `--connections` keep one request in flight each).
The bare app (bench/bare_app.py, its own uvicorn process) answers the bytes of the measured
user's merged view: the floor of what Litestar + uvicorn + the loopback cost.

The tenant at `--scale N`: the measured user `bench` belongs to 3 enterprises (accepted
invitations; owned by owner0..2; memberships stay 3 at every scale: they set the number of
generations the view cache reads and the size of the policy input, which a real user does not
multiply), owns 20·N personal servers; each enterprise has 10·N servers, half auto-enabled
(so the merged view holds 20·N + 15·N); the marketplace catalog has 200·N listings.

"Cold" merged view: a helper thread INCRs the user's generation counter (`gw:{u:bench}:gen`,
what every write to one of the user's personal servers does in the store's Lua script) every
0.5 ms, so every request finds a stale stamp and recomputes the view from the stores, then
writes the cache. The share of requests that missed is counted from Redis keyspace
notifications (`set` on the user's view key) and reported; warm runs report it too (~0).

`--profile`: an extra merged-view-warm run with py-spy attached (`record --format raw
--nonblocking --rate 200`), summarised as the top functions by inclusive and self share.
`--gateway-src DIR`: measure the gateway of another checkout (cwd and PYTHONPATH = DIR, this
venv's python) with this harness, e.g. a baseline commit in a `git worktree`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from string import Template
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SECRET = "bench-secret-for-hs256-at-least-32-bytes!"
USER = "bench"
OWNERS = ("owner0", "owner1", "owner2")
PERSONAL = 20  # x scale
ENTERPRISE_SERVERS = 10  # per enterprise, x scale; every other one auto-enabled
LISTINGS = 200  # x scale
VIEW_PATH = "/v1/mcp-servers?limit=500"  # the whole view in one page (max page 500)
BUMP_PERIOD_S = 0.0005
WRK_TIMEOUT = "30s"  # a slow endpoint under 32 connections queues for seconds: not an error
MCP_SERVER = "echo"  # the measured user's personal server that points at the upstream
MCP_SESSIONS = 32
MCP_VERSION = "2025-06-18"
# `$id` is replaced per request: two requests in flight in one session need distinct ids (the
# SDK routes a response to its POST by id).
MCP_CALL = (
    '{{"jsonrpc": "2.0", "id": "$id", "method": "tools/call", '
    '"params": {{"name": "{tool}", "arguments": {{"path": "/tmp/bench.txt"}}}}}}'
)
MCP_HEADERS = (
    ("Accept", "application/json, text/event-stream"),
    ("Mcp-Protocol-Version", MCP_VERSION),
)


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    method: str
    path: str  # `{server_id}` is filled in after seeding
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    target: str = "gateway"  # or "bare"
    cold: bool = False
    hook_until_routed: bool = False  # skipped (with a note) while the route answers 404
    rotate: bool = False  # each request takes the next of the user's personal servers
    creators: int = 0  # each request as the next of this many users (not the measured one)
    mcp_sessions: bool = False  # each request in the next of the open MCP sessions, own id
    part_of: str = ""  # `--only <part_of>` selects it too
    note: str = ""


# The order matters: `create` grows the user's view, so it runs last.
ENDPOINTS = (
    Endpoint(
        "bare",
        "bare Litestar app (view bytes)",
        "GET",
        "/v1/mcp-servers",
        target="bare",
        note="bench/bare_app.py: fixed bytes, same uvicorn settings, no auth/policy/Redis",
    ),
    Endpoint(
        "view_warm",
        "GET /v1/mcp-servers (warm)",
        "GET",
        VIEW_PATH,
        note="merged view, Redis view cache hit on (nearly) every request",
    ),
    Endpoint(
        "view_cold",
        "GET /v1/mcp-servers (cold)",
        "GET",
        VIEW_PATH,
        cold=True,
        note="merged view, every request misses: the user's generation is INCR'd every 0.5 ms",
    ),
    Endpoint("server_get", "GET /v1/mcp-servers/{id}", "GET", "/v1/mcp-servers/{server_id}"),
    Endpoint(
        "server_patch",
        "PATCH /v1/mcp-servers/{id}",
        "PATCH",
        "/v1/mcp-servers/{server_id}",
        body='{"description": "patched by the harness"}',
        rotate=True,
        note="each request the next of the user's personal servers (20 x scale): an app "
        "patches many servers, not one hot key 32 times at once",
    ),
    Endpoint(
        "marketplace",
        "GET /v1/marketplace/servers",
        "GET",
        "/v1/marketplace/servers?limit=100",
        note="first page of 100 listings, each with installed/allowed/reason",
    ),
    # The MCP proxy: the same tools/call sent straight to the upstream (a FastMCP server over
    # Streamable HTTP the harness starts) and through `/mcp`; the summary gives the ratio.
    Endpoint(
        "mcp_direct",
        "tools/call direct to the upstream",
        "POST",
        "/mcp",
        body=MCP_CALL.format(tool="read_file"),
        headers=MCP_HEADERS,
        target="upstream",
        mcp_sessions=True,
        part_of="mcp",
        note="FastMCP (tests/mcp_proxy/upstream_server.py) over Streamable HTTP, stateful: "
        f"{MCP_SESSIONS} sessions opened before, each request in the next one",
    ),
    Endpoint(
        "mcp",
        "POST /mcp tools/call (proxied)",
        "POST",
        "/mcp",
        body=MCP_CALL.format(tool=f"{MCP_SERVER}__read_file"),
        headers=MCP_HEADERS,
        mcp_sessions=True,
        note=f"the same call through the gateway: {MCP_SESSIONS} client sessions of the measured "
        "user (so as many upstream sessions), a tool.call decision logged per call",
    ),
    Endpoint(
        "server_create",
        "POST /v1/mcp-servers",
        "POST",
        "/v1/mcp-servers",
        body='{"name": "x", "transport": "stdio", "command": "mcp"}',
        creators=64,
        note="a new personal server per request, as each of 64 users in turn: one user "
        "would reach the 500 personal servers quota (data.gateway.quotas) within a second",
    ),
)

WRK_SCRIPT = Template(
    r"""-- generated by bench/harness.py for $key
wrk.method = "$method"
wrk.headers["Authorization"] = "Bearer $token"
$extra
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'HARNESS {"requests": %.0f, "duration_us": %.0f, "bytes": %.0f, "connect": %.0f, ' ..
    '"read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f, "p50_us": %.1f, ' ..
    '"p90_us": %.1f, "p99_us": %.1f, "p999_us": %.1f, "max_us": %.1f, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""
)


def log(message: str) -> None:
    print(f"[harness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- tools


def ensure_wrk() -> str:
    """wrk's path; installs the Debian package `wrk` (as root or with sudo) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise SystemExit("wrk is not installed and there is no root or sudo: apt install wrk")
        prefix = ["sudo"]
    log("wrk not found: installing the Debian package with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def git_info(src: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(src), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    dirty = git("status", "--porcelain", "--", "gateway", "policies", "pyproject.toml")
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "subject": git("log", "-1", "--format=%s") or None,
        "dirty_files": dirty.splitlines(),
    }


def machine_info(wrk: str) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    versions = {}
    for package in ("litestar", "uvicorn", "uvloop", "httptools", "msgspec", "regopy", "redis"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "wrk": (wrk_version.stdout + wrk_version.stderr).splitlines()[0].strip(),
        "packages": versions,
        "loadavg_at_start": list(os.getloadavg()),
    }


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------- processes


class Server:
    """A subprocess serving HTTP on 127.0.0.1:port, its output in a log file."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str], port: int,
                 logdir: Path) -> None:  # fmt: skip
        self.name = name
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = logdir / f"{name}.log"
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name} not ready after {timeout} s:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def gateway_env(src: Path, redis_url: str, port: int, catalog: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GATEWAY_") and name not in ("VAULT_ADDR", "VAULT_TOKEN")
    }
    env.update(
        GATEWAY_JWT_SECRET=SECRET,
        GATEWAY_REDIS_URL=redis_url,
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(port),
        GATEWAY_LOG_LEVEL="WARNING",
        GATEWAY_MARKETPLACE_CATALOG=str(catalog),
        # One user drives thousands of requests a second here: counted (the cost is part of
        # what is measured) but never refused.
        GATEWAY_RATE_LIMIT_REQUESTS="10000000",
        # The mcp rows' upstream listens on 127.0.0.1 (changes nothing else measured here).
        GATEWAY_ALLOW_PRIVATE_UPSTREAMS="true",
        PYTHONPATH=str(src),
    )
    return env


def gateway_module_file(src: Path, env: dict[str, str]) -> str:
    """Where the gateway process imports `gateway` from (proves --gateway-src took effect)."""
    done = subprocess.run(
        [sys.executable, "-c", "import gateway; print(gateway.__file__)"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


# ------------------------------------------------------------------------------------ seed


@dataclass
class Tenant:
    scale: int
    server_id: str = ""
    server_ids: list[str] = field(default_factory=list)
    view_bytes: bytes = b""
    view_content_type: str = ""
    view_items: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def token_for(user: str) -> str:
    from gateway.auth.dev_tokens import mint_dev_token

    return mint_dev_token(SECRET, sub=user, email=f"{user}@example.com", ttl_seconds=24 * 3600)


class Api:
    def __init__(self, base: str, user: str) -> None:
        import httpx

        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token_for(user)}"}, timeout=60
        )

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.client.request(method, path, json=body)
        if response.status_code != expect:
            raise SystemExit(f"seeding: {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None


def seed(base: str, scale: int) -> Tenant:
    from bench.marketplace import listing_id

    started = time.monotonic()
    tenant = Tenant(scale)
    me = Api(base, USER)
    personal = PERSONAL * scale
    per_enterprise = ENTERPRISE_SERVERS * scale
    first_id = ""
    for i in range(personal):
        body: dict[str, Any] = {"name": f"personal {i}", "description": f"personal server {i}"}
        if i % 2 == 0:
            body |= {
                "transport": "stdio",
                "command": "npx",
                "args": ["-y", f"@bench/server-{i}"],
                "env": ["BENCH_TOKEN"],
                "marketplace_listing_id": listing_id(i),
            }
        else:
            body |= {"transport": "streamable_http", "url": f"https://mcp.example.com/u/{i}"}
        created = me.call("POST", "/v1/mcp-servers", body, expect=201)
        first_id = first_id or created["id"]
        tenant.server_ids.append(created["id"])
    auto = 0
    for e, owner_name in enumerate(OWNERS):
        owner = Api(base, owner_name)
        ent = owner.call("POST", "/v1/enterprises", {"name": f"Enterprise {e}"}, expect=201)["id"]
        owner.call("PUT", f"/v1/enterprises/{ent}/members/{USER}", {"role": "member"}, expect=202)
        me.call("POST", f"/v1/invitations/{ent}/accept")
        for j in range(per_enterprise):
            body = {
                "name": f"enterprise {e} server {j}",
                "description": f"approved by enterprise {e}",
                "auto_enabled": j % 2 == 0,
            }
            if j % 2 == 0:
                listing = personal + e * per_enterprise + j
                body |= {
                    "transport": "stdio",
                    "command": "uvx",
                    "args": [f"bench-server-{listing}"],
                    "marketplace_listing_id": listing_id(listing),
                }
            else:
                body |= {"transport": "streamable_http", "url": f"https://mcp.example.com/{e}/{j}"}
            owner.call("POST", f"/v1/enterprise/mcp-servers?enterprise_id={ent}", body, expect=201)
            auto += j % 2 == 0
        owner.client.close()
    expected = min(personal + auto, 500)
    view = me.client.get(VIEW_PATH)
    items = view.json()["items"]
    if view.status_code != 200 or len(items) != expected:
        raise SystemExit(f"seeding: the view has {len(items)} items, expected {expected}")
    me.client.close()
    tenant.server_id = first_id
    tenant.view_bytes = view.content
    tenant.view_content_type = view.headers["content-type"]
    tenant.view_items = len(items)
    tenant.counts = {
        "enterprises": len(OWNERS),
        "personal_servers": personal,
        "enterprise_servers": per_enterprise * len(OWNERS),
        "auto_enabled": auto,
        "listings": LISTINGS * scale,
        "view_items": len(items),
        "view_bytes": len(view.content),
    }
    tenant.seconds = round(time.monotonic() - started, 1)
    return tenant


# ----------------------------------------------------------------------------- cold / cache


class GenerationBumper:
    """INCRs the user's generation every BUMP_PERIOD_S (the effect of a personal-server write):
    every merged-view request that reads the generations after it misses the cache."""

    def __init__(self, redis_url: str, user: str) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url)
        self._key = f"gw:{{u:{user}}}:gen"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.bumps = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._client.incr(self._key)
            self.bumps += 1
            self._stop.wait(BUMP_PERIOD_S)

    def __enter__(self) -> GenerationBumper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()


class ViewWrites:
    """Counts writes of the user's cached view (`set` keyspace events on `gw:{u:<user>}:view`):
    one per cache miss. Keyspace notifications for string commands are on while it runs."""

    def __init__(self, redis_url: str, user: str) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url)
        self._previous = self._client.config_get("notify-keyspace-events")["notify-keyspace-events"]
        self._client.config_set("notify-keyspace-events", "K$")
        self.count = 0
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(**{f"__keyspace@0__:gw:{{u:{user}}}:view": self.on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.05, daemon=True)

    def on_message(self, message: dict[str, Any]) -> None:
        if message.get("data") in (b"set", "set"):
            self.count += 1

    def close(self) -> None:
        self._thread.stop()
        self._thread.join(timeout=2)
        self._pubsub.close()
        self._client.config_set("notify-keyspace-events", self._previous)
        self._client.close()


# ------------------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    text: dict[str, Any]
    stdout: str


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(stdout: str) -> WrkResult:
    """wrk's own text (Requests/sec, the --latency distribution, Non-2xx, Socket errors) and
    the exact figures the script's done() prints; the table uses the exact ones."""
    text: dict[str, Any] = {}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", stdout):
        text["rps"] = float(m.group(1))
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\b", stdout, re.M):
        text[f"p{pct}_ms"] = round(_ms(value, unit), 3)
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", stdout)
    text["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
    names = ("connect", "read", "write", "timeout")
    text["socket_errors"] = dict(zip(names, map(int, m.groups()), strict=True)) if m else {}
    m = re.search(r"^HARNESS (\{.*\})$", stdout, re.M)
    if not m:
        raise SystemExit(f"wrk printed no summary:\n{stdout}")
    exact = json.loads(m.group(1))
    seconds = exact["duration_us"] / 1e6
    return WrkResult(
        requests=int(exact["requests"]),
        seconds=round(seconds, 3),
        rps=round(exact["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=round(exact["p50_us"] / 1000, 3),
        p90_ms=round(exact["p90_us"] / 1000, 3),
        p99_ms=round(exact["p99_us"] / 1000, 3),
        p999_ms=round(exact["p999_us"] / 1000, 3),
        max_ms=round(exact["max_us"] / 1000, 3),
        mean_ms=round(exact["mean_us"] / 1000, 3),
        non_2xx=int(exact["status"]),
        socket_errors={name: int(exact[name]) for name in names},
        text=text,
        stdout=stdout,
    )


def write_script(
    directory: Path,
    endpoint: Endpoint,
    token: str,
    paths: list[str] | None = None,
    sessions: list[str] | None = None,
) -> Path:
    extra = [f'wrk.headers["{name}"] = "{value}"' for name, value in endpoint.headers]
    body = endpoint.body
    if sessions:
        listed = ", ".join(f'"{s}"' for s in sessions)
        head, tail = (endpoint.body or "").split("$id")
        extra += [
            f"local sessions = {{{listed}}}",
            "local threads, at, seq = 0, 0, 0",
            "function setup(thread)",
            "  threads = threads + 1",
            "  thread:set('tid', threads); thread:set('offset', math.random(#sessions))",
            "end",
            "function init(args) at = offset or 0 end",
            "function request()",
            "  at = at % #sessions + 1; seq = seq + 1",
            '  wrk.headers["Mcp-Session-Id"] = sessions[at]',
            f"  return wrk.format(nil, nil, nil, [==[{head}]==] .. tid .. '-' .. seq .. "
            f"[==[{tail}]==])",
            "end",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
        body = None  # request() builds it
    if endpoint.creators:
        tokens = ", ".join(f'"{token_for(f"creator{i}")}"' for i in range(endpoint.creators))
        extra += [
            f"local tokens = {{{tokens}}}",
            "local t = 0",
            "function setup(thread) thread:set('offset', math.random(#tokens)) end",
            "function init(args) t = offset or 0 end",
            "function request()",
            '  t = t % #tokens + 1; wrk.headers["Authorization"] = "Bearer " .. tokens[t]',
            "  return wrk.format()",
            "end",
        ]
    if paths:
        listed = ", ".join(f'"{p}"' for p in paths)
        extra += [
            f"local paths = {{{listed}}}",
            "local at = 0",
            "function setup(thread) thread:set('offset', math.random(#paths)) end",
            "function init(args) at = offset or 0 end",
            "function request() at = at % #paths + 1; return wrk.format(nil, paths[at]) end",
        ]
    if body is not None:
        extra += [
            'wrk.headers["Content-Type"] = "application/json"',
            f"wrk.body = [==[{body}]==]",
        ]
    script = directory / f"{endpoint.key}.lua"
    script.write_text(
        WRK_SCRIPT.substitute(
            key=endpoint.key, method=endpoint.method, token=token, extra="\n".join(extra)
        )
    )
    return script


@dataclass
class LoadConfig:
    wrk: str
    duration: float
    warmup: float
    connections: int
    threads: int


def wrk(config: LoadConfig, url: str, script: Path, seconds: float) -> tuple[WrkResult, float]:
    """One wrk run; also the CPU seconds wrk itself used (it shares the machine)."""
    argv = [
        config.wrk,
        "--latency",
        "--threads",
        str(config.threads),
        "--connections",
        str(config.connections),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        WRK_TIMEOUT,
        "--script",
        str(script),
        url,
    ]
    before = children_cpu_seconds()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    used = children_cpu_seconds() - before
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr}\n{done.stdout}")
    return parse_wrk(done.stdout), used


# --------------------------------------------------------------------------------- profile


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def frame_name(frame: str) -> str:
    """`func (dir/file.py:123)` -> `func (file.py)`: no line, so a function counts once."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    return f"{m.group('func')} ({_short(m.group('file'))})"


def summarize_profile(raw: str, top: int = 25) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks, `frame;frame;...;leaf count` per line: each function's
    inclusive share (samples with it anywhere on the stack) and self share (as the leaf)."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        names = [frame_name(f) for f in stack.split(";") if f]
        if not names:
            continue
        total += n
        for name in set(names):
            inclusive[name] += n
        own[names[-1]] += n

    def rows(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": n, "share": round(n / total, 4)}
            for name, n in counter.most_common(top)
        ]

    return {"samples": total, "inclusive": rows(inclusive), "self": rows(own)}


def profile_markdown(summary: dict[str, Any], context: str) -> str:
    lines = [f"py-spy: {summary['samples']} samples; {context}", ""]
    for kind in ("inclusive", "self"):
        lines += [
            f"Top {len(summary[kind])} by {kind} share:",
            "",
            f"| # | {kind} % | function |",
            "|---:|---:|---|",
        ]
        lines += [
            f"| {i} | {row['share'] * 100:.1f} | `{row['function']}` |"
            for i, row in enumerate(summary[kind], 1)
        ]
        lines.append("")
    return "\n".join(lines)


def py_spy_binary() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    return found


def profiled_run(
    config: LoadConfig, url: str, script: Path, pid: int, output: Path, label: str
) -> dict[str, Any]:
    """A wrk run of one endpoint with py-spy recording the gateway for its duration."""
    seconds = max(1, round(config.duration))
    attempts = (["--nonblocking"], [])  # nonblocking first: it does not pause the gateway
    notes = []
    for extra in attempts:
        argv = [py_spy_binary(), "record", "--pid", str(pid), "--duration", str(seconds)]
        argv += ["--rate", "200", "--format", "raw", "--output", str(output), *extra]
        spy = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)  # attached before the load starts
        if spy.poll() is not None and spy.returncode != 0:
            notes.append(f"py-spy {' '.join(extra) or '(blocking)'} failed: {spy.stdout.read()}")
            continue
        result, _ = wrk(config, url, script, config.duration)
        spy_out, _ = spy.communicate(timeout=60)
        if spy.returncode != 0 or not output.exists():
            notes.append(f"py-spy {' '.join(extra) or '(blocking)'} failed: {spy_out}")
            continue
        summary = summarize_profile(output.read_text())
        mode = "nonblocking" if extra else "blocking (pauses the gateway per sample)"
        context = (
            f"{mode}, 200 Hz, {seconds} s of {label} at {result.rps:.0f} req/s under the profiler"
        )
        return {
            "mode": mode,
            "rps_under_profiler": result.rps,
            "p99_ms_under_profiler": result.p99_ms,
            "summary": summary,
            "markdown": profile_markdown(summary, context),
            "notes": notes,
        }
    return {"error": "py-spy could not record the gateway", "notes": notes}


# ------------------------------------------------------------------------------------- run


def probe_status(base: str, endpoint: Endpoint, path: str, token: str) -> int:
    import httpx

    headers = {"Authorization": f"Bearer {token}", **dict(endpoint.headers)}
    if endpoint.body is not None:
        headers["Content-Type"] = "application/json"
    response = httpx.request(
        endpoint.method, base + path, headers=headers, content=endpoint.body, timeout=30
    )
    return response.status_code


def selected(args: argparse.Namespace, endpoint: Endpoint) -> bool:
    return not args.only or bool({endpoint.key, endpoint.part_of} & args.only)


def open_mcp_sessions(server: Server, token: str, count: int) -> list[str]:
    """`count` MCP sessions (initialize, then notifications/initialized), as the user of
    `token`; waits for a server that is still starting."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": MCP_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "bench-harness", "version": "1"},
        },
    }
    ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    sessions: list[str] = []
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
        while len(sessions) < count:
            try:
                opened = client.post("/mcp", json=init)
            except httpx.ConnectError:
                if server.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{server.name} did not start:\n{server.output()}") from None
                time.sleep(0.1)
                continue
            session = opened.headers.get("mcp-session-id")
            if opened.status_code != 200 or not session:
                raise SystemExit(f"{server.name}: initialize: {opened.status_code} {opened.text}")
            acked = client.post(
                "/mcp",
                json=ready,
                headers={"Mcp-Session-Id": session, "Mcp-Protocol-Version": MCP_VERSION},
            )
            if acked.status_code != 202:
                raise SystemExit(f"{server.name}: initialized: {acked.status_code} {acked.text}")
            sessions.append(session)
    return sessions


@dataclass
class McpRig:
    """What the mcp rows need: the upstream (FastMCP over Streamable HTTP on a free port), the
    measured user's personal server `echo` pointing at it, and open sessions on both sides."""

    upstream: Server
    sessions: dict[str, list[str]]  # Endpoint.target -> session ids

    @classmethod
    def start(cls, gateway: Server, token: str, tmp: Path) -> McpRig:
        from tests.fixtures.redis_server import free_port

        port = free_port()
        upstream = Server(
            "mcp-upstream",
            [sys.executable, str(REPO / "tests" / "mcp_proxy" / "upstream_server.py"),
             "--transport", "streamable_http", "--port", str(port), "--name", MCP_SERVER],
            REPO,
            {**os.environ, "PYTHONPATH": str(REPO)},
            port,
            tmp,
        )  # fmt: skip
        try:
            direct = open_mcp_sessions(upstream, token, MCP_SESSIONS)
            me = Api(gateway.base, USER)
            body = {
                "name": MCP_SERVER,
                "transport": "streamable_http",
                "url": f"{upstream.base}/mcp",
            }
            me.call("POST", "/v1/mcp-servers", body, expect=201)
            me.client.close()
            proxied = open_mcp_sessions(gateway, token, MCP_SESSIONS)
        except BaseException:
            upstream.stop()
            raise
        return cls(upstream, {"upstream": direct, "gateway": proxied})


def probe_mcp(base: str, endpoint: Endpoint, path: str, token: str, session: str) -> int:
    """One call in `session`: it must be a tools/call result (a JSON-RPC error is a 200 too,
    and measuring errors would measure nothing)."""
    import httpx

    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Mcp-Session-Id": session,
        **dict(endpoint.headers),
    }
    body = (endpoint.body or "").replace("$id", "probe")
    response = httpx.post(base + path, headers=headers, content=body, timeout=30)
    if response.status_code != 200 or '"result"' not in response.text or '"error"' in response.text:
        raise SystemExit(f"{endpoint.label}: {response.status_code} {response.text[:500]}")
    return response.status_code


def one_run(
    args: argparse.Namespace, config: LoadConfig, src: Path, run_no: int, tmp: Path
) -> dict[str, Any]:
    from bench._redis import throwaway_redis
    from bench.marketplace import write_catalog
    from tests.fixtures.redis_server import free_port

    catalog = write_catalog(tmp, LISTINGS * args.scale)
    run: dict[str, Any] = {"run": run_no, "started": dt.datetime.now(dt.UTC).isoformat()}
    with throwaway_redis() as (redis_url, redis_version):
        run["redis_version"] = redis_version
        port = free_port()
        env = gateway_env(src, redis_url, port, catalog)
        env.update(dict(item.split("=", 1) for item in args.gateway_env))
        run["gateway_module"] = gateway_module_file(src, env)
        gateway = Server(
            "gateway", [sys.executable, "-m", "gateway.cli", "serve"], src, env, port, tmp
        )
        bare: Server | None = None
        mcp: McpRig | None = None
        try:
            gateway.wait_ready("/readyz")
            log(f"run {run_no}: gateway pid {gateway.proc.pid} on {gateway.base}; seeding")
            tenant = seed(gateway.base, args.scale)
            run["tenant"] = tenant.counts | {"seed_seconds": tenant.seconds}
            log(f"run {run_no}: seeded {tenant.counts} in {tenant.seconds} s")
            body_file = tmp / "view.json"
            body_file.write_bytes(tenant.view_bytes)
            bare_port = free_port()
            bare = Server(
                "bare",
                [sys.executable, "-m", "bench.bare_app", "--port", str(bare_port),
                 "--body", str(body_file), "--content-type", tenant.view_content_type],
                REPO,
                {**os.environ, "PYTHONPATH": str(REPO)},
                bare_port,
                tmp,
            )  # fmt: skip
            bare.wait_ready("/v1/mcp-servers")
            token = token_for(USER)
            if any(e.mcp_sessions and selected(args, e) for e in ENDPOINTS):
                mcp = McpRig.start(gateway, token, tmp)
            run["endpoints"] = measure(
                args, config, gateway, bare, tenant, redis_url, token, tmp, mcp
            )
            if not args.only or "burst" in args.only:
                run["burst"] = burst(gateway.base, args.burst)
        finally:
            if bare is not None:
                bare.stop()
            if mcp is not None:
                mcp.upstream.stop()
            gateway.stop()
            run["gateway_log_tail"] = gateway.output()[-2000:]
    return run


def measure(
    args: argparse.Namespace,
    config: LoadConfig,
    gateway: Server,
    bare: Server,
    tenant: Tenant,
    redis_url: str,
    token: str,
    tmp: Path,
    mcp: McpRig | None = None,
) -> list[dict[str, Any]]:
    import redis

    info = redis.Redis.from_url(redis_url)
    results = []
    for endpoint in ENDPOINTS:
        if not selected(args, endpoint):
            continue
        upstream = mcp.upstream if mcp else None
        server = {"bare": bare, "upstream": upstream}.get(endpoint.target) or gateway
        sessions = mcp.sessions[endpoint.target] if mcp and endpoint.mcp_sessions else None
        path = endpoint.path.format(server_id=tenant.server_id)
        url = server.base + path
        row: dict[str, Any] = {
            "key": endpoint.key,
            "label": endpoint.label,
            "method": endpoint.method,
            "path": path,
            "body": endpoint.body,
            "note": endpoint.note,
        }
        if sessions:
            status = probe_mcp(server.base, endpoint, path, token, sessions[0])
        else:
            status = probe_status(server.base, endpoint, path, token)
        row["probe_status"] = status
        if endpoint.hook_until_routed and status == 404:
            row["skipped"] = f"{endpoint.method} {path} answers 404: the route does not exist yet"
            log(f"SKIPPED {endpoint.label}: {row['skipped']}")
            results.append(row)
            continue
        rotation = (
            [endpoint.path.format(server_id=i) for i in tenant.server_ids]
            if endpoint.rotate
            else None
        )
        script = write_script(tmp, endpoint, token, rotation, sessions)
        # Through the proxy, the upstream's CPU is part of each call's cost too.
        behind = upstream if sessions and server is gateway else None
        bumper = GenerationBumper(redis_url, USER) if endpoint.cold else None
        views = ViewWrites(redis_url, USER) if endpoint.key.startswith("view_") else None
        try:
            if bumper:
                bumper.__enter__()
            log(f"{endpoint.label}: warm-up {config.warmup:g} s, then {config.duration:g} s")
            if config.warmup > 0:
                wrk(config, url, script, config.warmup)
            writes_before = views.count if views else 0
            bumps_before = bumper.bumps if bumper else 0
            cpu_before = process_cpu_seconds(server.proc.pid)
            behind_before = process_cpu_seconds(behind.proc.pid) if behind else 0.0
            redis_cpu_before = _redis_cpu(info)
            result, wrk_cpu = wrk(config, url, script, config.duration)
            cpu = process_cpu_seconds(server.proc.pid) - cpu_before
            if behind:
                behind_cpu = process_cpu_seconds(behind.proc.pid) - behind_before
                row["upstream_cpu_ms_per_request"] = round(
                    1000 * behind_cpu / max(1, result.requests), 3
                )
            redis_cpu = _redis_cpu(info) - redis_cpu_before
            time.sleep(0.2)  # the last keyspace events arrive
            if views:
                writes = views.count - writes_before
                row["view_cache_writes"] = writes
                row["view_cache_miss_share"] = round(writes / max(1, result.requests), 3)
            if bumper:
                row["generation_bumps"] = bumper.bumps - bumps_before
        finally:
            if bumper:
                bumper.__exit__(None, None, None)
            if views:
                views.close()
        row |= {
            "requests": result.requests,
            "seconds": result.seconds,
            "rps": result.rps,
            "p50_ms": result.p50_ms,
            "p90_ms": result.p90_ms,
            "p99_ms": result.p99_ms,
            "p999_ms": result.p999_ms,
            "max_ms": result.max_ms,
            "mean_ms": result.mean_ms,
            "non_2xx": result.non_2xx,
            "socket_errors": result.socket_errors,
            "server_cpu_share": round(cpu / result.seconds, 3),
            "server_cpu_ms_per_request": round(1000 * cpu / max(1, result.requests), 3),
            "redis_cpu_share": round(redis_cpu / result.seconds, 3),
            "wrk_cpu_share": round(wrk_cpu / result.seconds, 3),
            "wrk_text": result.text,
            "wrk_stdout": result.stdout,
        }
        log(
            f"{endpoint.label}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}"
            + (f", miss share {row['view_cache_miss_share']}" if views else "")
        )
        if endpoint.key in args.profile and endpoint.key not in args.profiled:
            raw = tmp / f"{endpoint.key}.pyspy.txt"
            log(f"profiling {endpoint.label} with py-spy for {config.duration:g} s")
            row["profile"] = profiled_run(config, url, script, server.proc.pid, raw, endpoint.label)
            if raw.exists() and args.profile_raw:
                kept = args.profile_raw.with_name(
                    args.profile_raw.name.replace(".pyspy", f".{endpoint.key}.pyspy")
                )
                shutil.copyfile(raw, kept)
                row["profile"]["raw_file"] = str(kept)
            args.profiled.add(endpoint.key)
        results.append(row)
    info.close()
    return results


def burst(base: str, size: int) -> dict[str, Any]:
    """`size` merged-view requests at once, each on its own connection (50 users), plus 150
    anonymous /readyz probes: what each got. Up to GATEWAY_MAX_CONCURRENT_REQUESTS (256)
    are served; beyond it the answer must be a 503 with Retry-After, never another 5xx."""
    import asyncio

    import httpx

    async def fire() -> tuple[list[httpx.Response], list[httpx.Response], float]:
        limits = httpx.Limits(max_connections=size + 150, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            lists = [
                client.get(
                    VIEW_PATH, headers={"Authorization": f"Bearer {token_for(f'u{i % 50}')}"}
                )
                for i in range(size)
            ]
            probes = [client.get("/readyz") for _ in range(150)]
            started = time.monotonic()
            answers = await asyncio.gather(*lists, *probes)
            return answers[:size], answers[size:], time.monotonic() - started

    listed, probed, seconds = asyncio.run(fire())
    statuses = Counter(str(r.status_code) for r in listed)
    other_5xx = sum(1 for r in listed if r.status_code >= 500 and r.status_code != 503)
    result = {
        "requests": size,
        "seconds": round(seconds, 2),
        "statuses": dict(statuses),
        "503_with_retry_after": sum(
            1 for r in listed if r.status_code == 503 and r.headers.get("retry-after")
        ),
        "other_5xx": other_5xx,
        "readyz_statuses": dict(Counter(str(r.status_code) for r in probed)),
    }
    log(f"burst of {size}: {result}")
    return result


def _redis_cpu(client: Any) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


# ---------------------------------------------------------------------------------- report


def summary_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per endpoint: the median over runs, and the req/s of each run (the spread)."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        for row in run["endpoints"]:
            by_key.setdefault(row["key"], []).append(row)
    bare_rps = None
    if "bare" in by_key and "rps" in by_key["bare"][0]:
        bare_rps = statistics.median(r["rps"] for r in by_key["bare"])
    summary = []
    for key, rows in by_key.items():
        first = rows[0]
        entry: dict[str, Any] = {"key": key, "label": first["label"], "note": first["note"]}
        if "skipped" in first:
            entry["skipped"] = first["skipped"]
            summary.append(entry)
            continue
        rps = [r["rps"] for r in rows]
        entry |= {
            "rps": round(statistics.median(rps), 1),
            "rps_runs": rps,
            "rps_spread": round((max(rps) - min(rps)) / statistics.median(rps), 3),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in rows), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in rows), 2),
            "non_2xx": sum(r["non_2xx"] for r in rows),
            "socket_errors": sum(sum(r["socket_errors"].values()) for r in rows),
            "server_cpu_ms_per_request": round(
                statistics.median(r["server_cpu_ms_per_request"] for r in rows), 3
            ),
            "vs_bare": round(statistics.median(rps) / bare_rps, 4) if bare_rps else None,
        }
        if "view_cache_miss_share" in first:
            entry["view_cache_miss_share"] = [r["view_cache_miss_share"] for r in rows]
        if "upstream_cpu_ms_per_request" in first:
            entry["upstream_cpu_ms_per_request"] = round(
                statistics.median(r["upstream_cpu_ms_per_request"] for r in rows), 3
            )
        summary.append(entry)
    keyed = {entry["key"]: entry for entry in summary}
    direct, proxied = keyed.get("mcp_direct", {}), keyed.get("mcp", {})
    if "rps" in direct and "rps" in proxied:  # proxied / direct, same call, same upstream
        proxied["vs_direct"] = {
            name: round(proxied[name] / direct[name], 3) for name in ("rps", "p50_ms", "p99_ms")
        }
    return summary


def table(summary: list[dict[str, Any]], runs: int) -> str:
    spread = " | spread" if runs > 1 else ""
    lines = [
        f"| endpoint | req/s{spread} | p50 ms | p99 ms | non-2xx | sock err | vs bare "
        "| gw CPU ms/req |",
        "|---|---:|" + ("---:|" if runs > 1 else "") + "---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        if "skipped" in row:
            cells = "skipped | " + " | ".join([""] * (6 + (runs > 1)))
            lines.append(f"| {row['label']} | {cells} |".replace("|  |", "| |"))
            continue
        ratio = f"{row['vs_bare']:.3f}" if row["vs_bare"] is not None else "-"
        spread_cell = (
            f" | {'/'.join(f'{r:.0f}' for r in row['rps_runs'])} ({row['rps_spread'] * 100:.0f} %)"
            if runs > 1
            else ""
        )
        lines.append(
            f"| {row['label']} | {row['rps']:.0f}{spread_cell} | {row['p50_ms']:.1f} "
            f"| {row['p99_ms']:.1f} | {row['non_2xx']} | {row['socket_errors']} | {ratio} "
            f"| {row['server_cpu_ms_per_request']:.2f} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["summary"] if "rps" in r and r["key"] != "bare"]
    bare = next((r for r in result["summary"] if r["key"] == "bare" and "rps" in r), None)
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    labels = [r["label"].replace(" /v1/", "\n/v1/").replace(" (", "\n(") for r in rows]
    values = [r["rps"] for r in rows]
    bars = ax.bar(labels, values, color="#4477aa")
    if any(len(r["rps_runs"]) > 1 for r in rows):
        low = [r["rps"] - min(r["rps_runs"]) for r in rows]
        high = [max(r["rps_runs"]) - r["rps"] for r in rows]
        ax.errorbar(labels, values, yerr=[low, high], fmt="none", ecolor="black", capsize=4)
    for bar, row in zip(bars, rows, strict=True):
        ax.annotate(
            f"{row['rps']:.0f} req/s\np99 {row['p99_ms']:.0f} ms",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    if bare:
        ax.axhline(bare["rps"], color="#cc6677", linestyle="--", linewidth=1.5)
        ax.annotate(
            f"bare Litestar app: {bare['rps']:.0f} req/s (p99 {bare['p99_ms']:.1f} ms)",
            (0.01, bare["rps"]),
            xycoords=("axes fraction", "data"),
            xytext=(0, 4),
            textcoords="offset points",
            color="#cc6677",
            fontsize=9,
        )
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (log scale)")
    top = max([*values, bare["rps"] if bare else 0])
    ax.set_ylim(max(1, min(values) / 3) if values else 1, top * 3)
    src = result["gateway_source"]
    commit = (src["commit"] or "?")[:10] + (" +dirty" if src["dirty_files"] else "")
    cfg = result["config"]
    ax.set_title(
        f"gateway {commit} at scale {cfg['scale']}x ({result['tenant']['view_items']} servers in "
        f"view): wrk {cfg['connections']} connections, {cfg['duration']:g} s, "
        f"{result['machine']['cores']} cores",
        fontsize=10,
    )
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]),
    )
    parser.add_argument("--scale", type=int, default=1, help="tenant multiplier (default 1)")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="discarded seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--runs", type=int, default=1, help="whole runs (fresh Redis + gateway)")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="view_warm",
        default="",
        help="py-spy on these endpoint keys (comma-separated; default view_warm)",
    )
    parser.add_argument("--gateway-src", type=Path, help="measure the gateway of this checkout")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the gateway process (repeatable), e.g. GATEWAY_AUDIT_REQUIRED=true",
    )
    parser.add_argument("--out", type=Path, help="JSON (default bench/results/harness-<N>x.json)")
    parser.add_argument("--chart", type=Path, help="PNG (default: the JSON's path, .png)")
    parser.add_argument(
        "--burst", type=int, default=500, help="concurrent requests of the burst step"
    )
    parser.add_argument("--only", help="comma-separated endpoint keys (for trying things)")
    args = parser.parse_args()
    src = (args.gateway_src or REPO).resolve()
    if not (src / "gateway" / "cli.py").exists():
        raise SystemExit(f"{src} is not a gateway checkout (no gateway/cli.py)")
    if src != REPO:
        # The gateway helpers this process borrows (token minting, the catalog's categories,
        # the Redis starter) come from the measured checkout too: a half-edited working tree
        # cannot break the measurement of a baseline.
        sys.path.insert(0, str(src))
    args.only = set(args.only.split(",")) if args.only else set()
    args.profile = set(args.profile.split(",")) if args.profile else set()
    args.profiled = set()
    out = args.out or REPO / "bench" / "results" / f"harness-{args.scale}x.json"
    chart_path = args.chart or out.with_suffix(".png")
    args.profile_raw = out.with_suffix(".pyspy.txt") if args.profile else None
    out.parent.mkdir(parents=True, exist_ok=True)
    config = LoadConfig(ensure_wrk(), args.duration, args.warmup, args.connections, args.threads)
    started = time.monotonic()
    result: dict[str, Any] = {
        "harness": "bench/harness.py",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "gateway_source": {"dir": str(src), **git_info(src)},
        "harness_commit": git_info(REPO)["commit"],
        "machine": machine_info(config.wrk),
        "config": {
            "scale": args.scale,
            "duration": args.duration,
            "warmup": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "wrk_timeout": WRK_TIMEOUT,
            "runs": args.runs,
            "view_path": VIEW_PATH,
            "cold": "a thread INCRs gw:{u:bench}:gen every 0.5 ms during the run: every "
            "request's stamp is stale, so it recomputes the view from the stores and rewrites "
            "the cache (view_cache_miss_share counts the rewrites per request)",
            "gateway_env": "embedded engine, HS256 auth, decision log in Redis (not required), "
            "Redis stores and view cache, memory secrets, GATEWAY_LOG_LEVEL=WARNING, "
            "rate limit counted but never reached, private upstreams allowed (the mcp rows)",
            "gateway_env_extra": args.gateway_env,
        },
    }
    runs = []
    for run_no in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
            run = one_run(args, config, src, run_no, Path(tmp))
        runs.append(run)
        result["tenant"] = run["tenant"]
    result["runs"] = runs
    result["summary"] = summary_rows(runs)
    result["seconds"] = round(time.monotonic() - started, 1)
    profiles = {
        row["key"]: row["profile"] for run in runs for row in run["endpoints"] if "profile" in row
    }
    result["profiles"] = profiles
    out.write_text(json.dumps(result, indent=2) + "\n")
    chart(result, chart_path)
    src_info = result["gateway_source"]
    print(
        f"\ngateway {src_info['commit']} ({src_info['subject']})"
        + (f", dirty: {', '.join(src_info['dirty_files'])}" if src_info["dirty_files"] else "")
        + f"\nscale {args.scale}x: {result['tenant']}; wrk {args.connections} connections, "
        f"{args.threads} threads, {args.duration:g} s after {args.warmup:g} s warm-up; "
        f"{args.runs} run(s); {result['machine']['cores']} cores\n"
    )
    print(table(result["summary"], args.runs))
    for run in runs:
        if "burst" in run:
            print(f"\nburst (run {run['run']}): {json.dumps(run['burst'])}")
    for row in result["summary"]:
        if "skipped" in row:
            print(f"\nnote: {row['label']} skipped: {row['skipped']}")
        if "view_cache_miss_share" in row:
            print(f"\n{row['label']}: view cache miss share per run {row['view_cache_miss_share']}")
        if "vs_direct" in row:
            print(
                f"\n{row['label']} / direct: {json.dumps(row['vs_direct'])}; upstream CPU "
                f"{row['upstream_cpu_ms_per_request']} ms per proxied call"
            )
    for profile in profiles.values():
        print("\n" + profile.get("markdown", json.dumps(profile, indent=2)))
    print(f"\nwrote {out} and {chart_path} in {result['seconds']} s")


if __name__ == "__main__":
    main()
