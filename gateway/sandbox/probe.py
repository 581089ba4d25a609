"""Can this host make a sandbox? Asked once at startup: GATEWAY_STDIO_HOSTING `auto` hosts
where the answer is yes, `true` refuses to start without one, `false` does not ask. Nothing
ever runs unsandboxed: where the answer is no, stdio servers are not hosted at all."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

import anyio
import msgspec

from gateway.sandbox.bwrap import BWRAP, PRLIMIT, SETPRIV, Limits, SandboxSpec, command_line
from gateway.sandbox.workspaces import Workspaces

log = logging.getLogger(__name__)

PROBE_SECONDS = 10.0
_PROBE_USER = "\0probe"  # no user id can be this (ids are checked against a pattern)


class HostingStatus(msgspec.Struct, kw_only=True, frozen=True):
    """What /readyz shows under `stdio_hosting`."""

    mode: str  # the setting: auto, true, false
    enabled: bool
    reason: str  # why off, or what it runs on


async def probe_hosting(
    mode: str, workspace_dir: str, limits: Limits, readonly_paths: tuple[str, ...]
) -> HostingStatus:
    if mode == "false":
        return HostingStatus(mode=mode, enabled=False, reason="off (GATEWAY_STDIO_HOSTING=false)")
    why_not = await _why_not(workspace_dir, limits, readonly_paths)
    if why_not is None:
        return HostingStatus(mode=mode, enabled=True, reason="bubblewrap sandboxes")
    return HostingStatus(mode=mode, enabled=False, reason=why_not)


async def _why_not(
    workspace_dir: str, limits: Limits, readonly_paths: tuple[str, ...]
) -> str | None:
    missing = [tool for tool in (BWRAP, SETPRIV, PRLIMIT) if not os.access(tool, os.X_OK)]
    if missing:
        return f"not installed: {', '.join(missing)} (Debian: bubblewrap, util-linux)"
    if os.geteuid() != 0:
        return "the gateway is not root: each sandbox runs as a uid of its own (setpriv)"
    workspaces = Workspaces(workspace_dir)
    place = workspaces.of(_PROBE_USER, f"probe-{os.getpid()}")
    try:
        await anyio.to_thread.run_sync(workspaces.prepare, place, {})
    except OSError as exc:
        return f"GATEWAY_STDIO_WORKSPACE_DIR {workspace_dir!r}: {exc.strerror or exc}"
    spec = SandboxSpec(
        command="/bin/true",
        args=[],
        host_uid=place.uid,
        workspace=str(place.workspace),
        env_file=str(place.env_file),
        egress=False,
        limits=limits,
        readonly_paths=readonly_paths,
    )
    try:
        argv = command_line(spec)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), PROBE_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return f"a test sandbox did not finish within {PROBE_SECONDS:g}s"
        if proc.returncode != 0:
            said = err.decode(errors="replace").strip().splitlines()
            return f"a test sandbox failed (exit {proc.returncode}): {said[-1] if said else ''}"
        return None
    except OSError as exc:
        return f"a test sandbox could not start: {exc}"
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, place.home, True)
