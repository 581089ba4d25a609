"""Rollout without restart: notice a changed policy directory and ask the engine to reload.

Polling (a stat of every policy file each `interval` seconds) rather than inotify: it works
the same on every filesystem, including the bind mounts and network volumes policies are
rolled out on, and costs a few hundred microseconds. SIGHUP asks for a reload at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.policy.sources import signature

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 1.0


class PolicyWatcher:
    def __init__(
        self,
        policy_dir: Path,
        reload: Callable[[], Awaitable[bool]],
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._dir = policy_dir
        self._reload = reload
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None
        self._seen = signature(policy_dir)
        self._sighup_installed = False

    def start(self, *, sighup: bool = True) -> None:
        """Poll in the background (unless the interval is 0); with `sighup`, also reload on
        SIGHUP (main thread only)."""
        if self._task is None and self._interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._poll(), name="policy-watch")
        if sighup and not self._sighup_installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.trigger)
                self._sighup_installed = True

    def trigger(self) -> None:
        """Reload now (the SIGHUP handler)."""
        log.info("reloading the policy directory %s on request", self._dir)
        asyncio.get_running_loop().create_task(self._reload_logged())

    async def check_now(self) -> bool:
        """Reload if the directory changed since the last look; True if a new one serves."""
        current = signature(self._dir)
        if current == self._seen:
            return False
        self._seen = current
        return await self._reload_logged()

    async def _reload_logged(self) -> bool:
        try:
            return await self._reload()
        except Exception:  # a bug in reloading must not stop the watcher or serve nothing
            log.exception("reloading the policy directory %s failed", self._dir)
            return False

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check_now()

    async def stop(self) -> None:
        if self._sighup_installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup_installed = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
