"""Processes the benchmarks start: a server on a free port with its output in a log file, and
the gateway itself (`python -m gateway.cli serve`) in an environment of known settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import REPO
from bench._auth import AUDIENCE, SECRET


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


def gateway_env(src: Path, redis_url: str, port: int, **settings: str) -> dict[str, str]:
    """The gateway's environment: this one's without GATEWAY_* and Vault variables (what is
    measured does not depend on the caller's shell), HS256 auth with the benchmarks' secret,
    Redis stores at `redis_url`, WARNING logs, `gateway` imported from `src`; then `settings`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GATEWAY_") and name not in ("VAULT_ADDR", "VAULT_TOKEN")
    }
    env.update(
        GATEWAY_JWT_SECRET=SECRET,
        GATEWAY_JWT_AUDIENCE=AUDIENCE,
        GATEWAY_REDIS_URL=redis_url,
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(port),
        GATEWAY_LOG_LEVEL="WARNING",
        PYTHONPATH=str(src),
    )
    env.update(settings)
    return env


def start_gateway(src: Path, env: dict[str, str], logdir: Path, workers: int = 1) -> Server:
    """`gateway serve` from the checkout `src`, on the port `env` names, with `--workers N`
    above 1 (uvicorn's supervisor and N worker processes); not yet ready."""
    port = int(env["GATEWAY_PORT"])
    argv = [sys.executable, "-m", "gateway.cli", "serve"]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return Server("gateway", argv, src, env, port, logdir)


def start_local(name: str, argv: list[str], logdir: Path) -> Server:
    """A Python program of this checkout (cwd and PYTHONPATH the repo) serving on a free port,
    which it is told as `--port P` after `argv`; not yet ready."""
    from tests.fixtures.redis_server import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return Server(name, [sys.executable, *argv, "--port", str(port)], REPO, env, port, logdir)
