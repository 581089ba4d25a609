"""The gateway (and the bare app, the upstream) as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.harness.tenant import SECRET


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
