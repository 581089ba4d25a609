"""Sandboxes for the stdio MCP servers the gateway hosts (docs/stdio-hosting.md, ADR 0054).

Nothing here knows MCP or the policy: it makes a process that can see the system's programs
read-only, one writable workspace and nothing else of the host, under resource limits.

- bwrap.py: the command line (prlimit -> setpriv -> bwrap -> sh reading the env file)
- workspaces.py: the host side of one sandbox (its uid, workspace and env file)
- probe.py: can a sandbox be made here? (GATEWAY_STDIO_HOSTING, /readyz)
"""

from gateway.sandbox.bwrap import Limits, SandboxSpec, command_line
from gateway.sandbox.probe import HostingStatus, probe_hosting
from gateway.sandbox.workspaces import Workspace, Workspaces

__all__ = [
    "HostingStatus",
    "Limits",
    "SandboxSpec",
    "Workspace",
    "Workspaces",
    "command_line",
    "probe_hosting",
]
