"""Backends a test may kill: a redis-server and an OpenBao dev server of the test's own
(never the session's, which other tests share), each restartable on the same port."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.openbao import _healthy, _stop, bao_binary
from tests.fixtures.ports import listens
from tests.fixtures.processes import pause_process
from tests.fixtures.redis_server import free_port, start_redis_server, stop_process


class DoomedRedis:
    """One redis-server to SIGKILL and start again on the same port and directory. With
    `persistent`, an append-only file fsynced on every write: what Redis acknowledged
    survives the kill; without, a restart comes back empty."""

    def __init__(self, workdir: Path, *, persistent: bool = False) -> None:
        self.workdir = workdir
        self.extra = ("--appendonly", "yes", "--appendfsync", "always") if persistent else ()
        self.proc, self.port = start_redis_server(workdir, *self.extra)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def restart(self) -> None:
        self.proc, _ = start_redis_server(self.workdir, *self.extra, port=self.port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process(self.proc)


@pytest.fixture
def doomed_redis(tmp_path: Path) -> Iterator[type[DoomedRedis]]:
    """Start redis-servers of the test's own (`doomed_redis(persistent=True)`); all stopped
    afterwards."""
    started: list[DoomedRedis] = []

    class Started(DoomedRedis):
        def __init__(self, *, persistent: bool = False) -> None:
            workdir = tmp_path / f"redis-{len(started)}"
            workdir.mkdir()
            super().__init__(workdir, persistent=persistent)
            started.append(self)

    yield Started
    for server in started:
        server.stop()


class DoomedOpenBao:
    """`bao server -dev` to SIGSTOP, SIGKILL and start again on the same port with the same
    root token (dev mode keeps secrets in memory: a restart comes back empty)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        with (self.workdir / "openbao.log").open("ab") as log:
            proc = subprocess.Popen(
                [
                    bao_binary(), "server", "-dev", f"-dev-root-token-id={self.token}",
                    f"-dev-listen-address=127.0.0.1:{self.port}", "-dev-no-store-token",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while not (_healthy(self.addr) and listens(proc.pid, self.port)):  # ports.py
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc)
                raise RuntimeError((self.workdir / "openbao.log").read_text()[-2000:])
            time.sleep(0.05)
        return proc

    def pause(self) -> None:
        pause_process(self.proc.pid)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def restart(self) -> None:
        self.proc = self._start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.resume()
            _stop(self.proc)


@pytest.fixture
def doomed_openbao(tmp_path: Path) -> Iterator[DoomedOpenBao]:
    server = DoomedOpenBao(tmp_path)
    try:
        yield server
    finally:
        server.stop()
