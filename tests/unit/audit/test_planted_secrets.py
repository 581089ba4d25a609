"""Issue 24's planted secrets (masked on main since the MCP issue; kept as a guard), each
masked in the record of a server change: a bearer token
inside a `--header` argument, an `Ocp-Apim-Subscription-Key` header, a token in a URL path."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.audit.masking import Masker
from gateway.audit.records import BundleInfo, DecisionRecord
from gateway.config import REPO_POLICY_DIR
from gateway.policy.embedded import EmbeddedRegoEngine

GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
APIM = "0123456789abcdef0123456789abcdef"
PATH_TOKEN = "xoxb-1234567890-abcdefghij"
SLACK_HOOK = "T00000000/B00000000/aB3dE5fG7hI9jK1lM3nO5pQ7"


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker(EmbeddedRegoEngine(REPO_POLICY_DIR))


def _update(server: dict[str, Any]) -> DecisionRecord:
    resource = {"type": "mcp_server", "id": "mcp_1", "source": "personal", **server}
    return DecisionRecord(
        decision_id="d",
        path="gateway/authz/decision",
        action="mcp_server.update",
        input={"action": "mcp_server.update", "resource": resource, "proposed": resource},
        result={"allow": True},
        timestamp="2026-01-01T00:00:00.000000Z",
        bundles={"gateway": BundleInfo(revision="r")},
        labels={"id": "x", "version": "0", "engine": "embedded"},
    )


@pytest.mark.parametrize(
    ("server", "secret"),
    [
        (
            {
                "transport": "stdio",
                "command": "npx",
                "args": ["-y", "mcp-remote", "--header", f"Authorization: Bearer {GHP}"],
            },
            GHP,
        ),
        (
            {
                "transport": "stdio",
                "command": "npx",
                "args": ["--header", f"Authorization:Bearer {APIM}"],
            },
            APIM,
        ),
        (
            {
                "transport": "streamable_http",
                "url": "https://apim.example.com/mcp",
                "headers": {"Ocp-Apim-Subscription-Key": APIM},
            },
            APIM,
        ),
        (
            {
                "transport": "streamable_http",
                "url": f"https://api.example.com/bot/{PATH_TOKEN}/mcp",
            },
            PATH_TOKEN,
        ),
        (
            {
                "transport": "streamable_http",
                "url": f"https://hooks.slack.com/services/{SLACK_HOOK}",
            },
            SLACK_HOOK,
        ),
    ],
    ids=["bearer-in-args", "bearer-no-space", "apim-header", "token-in-path", "hook-in-path"],
)
async def test_each_planted_secret_is_masked(
    masker: Masker, server: dict[str, Any], secret: str
) -> None:
    masked = await masker.mask(_update(server))
    assert secret not in repr(masked.input), masked.input
    assert masked.masked or masked.erased
