"""What the proxy uses of the gateway, and nothing more: injected by the composition root
(gateway/app.py) once the runtime is open, so the proxy never reaches through it."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audit.recorder import AuditRecorder
from gateway.config import Settings
from gateway.policy.decider import Authorizer
from gateway.sandbox import HostingStatus
from gateway.services.credentials import CredentialService
from gateway.services.servers import MCPServerService
from gateway.stores.approvals import ApprovalStore
from gateway.stores.tool_pins import ToolPinStore


@dataclass(frozen=True)
class ProxyServices:
    settings: Settings
    servers: MCPServerService  # the caller's merged view
    authorizer: Authorizer  # tool.call decisions
    credentials: CredentialService  # the secret values an upstream's headers reference
    recorder: AuditRecorder  # each MCP message is served in a request scope of its own
    hosting: HostingStatus  # whether stdio servers can be hosted here (a startup probe)
    tool_pins: ToolPinStore  # the pinned tool definitions (docs/adr/0057-tool-integrity.md)
    approvals: ApprovalStore  # tool calls waiting for a person's approval (the same ADR)
