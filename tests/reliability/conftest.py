"""Backends a test may kill: a redis-server of the test's own (never the session's, which
other tests share), restartable on the same port and directory."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.redis_server import start_redis_server, stop_process


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
