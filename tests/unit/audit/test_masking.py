"""Masking is the policy's (`data.system.log.mask`, OPA's way): the paths it names are erased
and listed in `erased`, the values it replaces listed in `masked`; a mask that cannot be read
erases the whole input, never none of it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgspec

from gateway.audit.masking import Masker
from gateway.audit.records import BundleInfo, DecisionRecord
from gateway.config import REPO_POLICY_DIR
from gateway.policy.embedded import EmbeddedRegoEngine


def _record(input_: dict[str, Any], action: str | None = None) -> DecisionRecord:
    return DecisionRecord(
        decision_id="d",
        path="gateway/authz/decision",
        action=action,
        input=input_,
        result={"allow": True},
        timestamp="2026-01-01T00:00:00.000000Z",
        bundles={"gateway": BundleInfo(revision="r")},
        labels={"id": "x", "version": "0", "engine": "embedded"},
    )


async def test_the_shipped_mask_erases_the_token_and_says_where() -> None:
    masker = Masker(EmbeddedRegoEngine(REPO_POLICY_DIR))
    masked = await masker.mask(
        _record(
            {
                "action": "mcp_server.read",
                "request": {"token": "sk-SECRET", "method": "GET"},
                "subject": {"id": "u", "password": "pw-SECRET"},
            }
        )
    )
    assert masked.erased == ["/input/request/token", "/input/subject/password"]
    assert "SECRET" not in repr(masked.input)
    assert masked.input is not None and masked.input["request"]["method"] == "GET"  # kept


async def test_a_mask_that_cannot_be_read_erases_the_whole_input(tmp_path: Path) -> None:
    broken = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, broken, ignore=shutil.ignore_patterns("*_test.rego"))
    (broken / "system" / "log" / "mask.rego").write_text(
        'package system.log\n\nmask := "not a list of JSON pointers"\n'
    )
    masker = Masker(EmbeddedRegoEngine(broken))
    masked = await masker.mask(_record({"action": "a", "request": {"x": "sk-SECRET"}}))
    assert masked.input is None
    assert masked.erased == ["/input"]
    assert masker.failures == 1


# Each shape of secret the shipped mask hides, planted where the MCP proxy puts what a client
# and a server's owner typed (issue 21 item 5, issue 24). Made up, shaped like the real thing.
PLANTED = {
    "password argument": "hunter2-PLANTED-1",
    "api_key argument": "k-PLANTED-2",
    "bearer header in a CLI argument": "ghp_PLANTEDa1b2c3d4e5f6g7h8i9j0k1l2m3n4",
    "deep client_secret": "cs-PLANTED-4",
    "query token": "qt-PLANTED-5",
    "user info": "pw-PLANTED-6",
    "webhook path": "Xk9vQ2mR7tLp4sW8nB3cZ6yH",
    "X-Api-Key with -H": "xk-PLANTED-8",
    "flag value": "fv-PLANTED-9",
    "bare bearer": "bb-PLANTED-10",
    "stdio server --header": "ghp_PLANTEDz9y8x7w6v5u4t3s2r1q0p9o8n7m6",
    "subscription key header": "sub-PLANTED-12",
    "server URL path": "Zk8x9QmR2vT7bN4cL1pW6sYh",
}


def _tool_call() -> dict[str, Any]:
    p = PLANTED
    arguments = {
        "path": "/tmp/x",
        "flags": ["--verbose"],
        "password": p["password argument"],
        "api_key": p["api_key argument"],
        "command": f'curl --header "Authorization: Bearer {p["bearer header in a CLI argument"]}"'
        f" -H 'X-Api-Key: {p['X-Api-Key with -H']}' https://api.example.com",
        "batch": [{"items": [{"client_secret": p["deep client_secret"]}]}],
        "url": f"https://api.example.com/v1?region=eu&token={p['query token']}",
        "dsn": f"postgres://bob:{p['user info']}@db.example.com/app",
        "webhook": f"https://hooks.example.com/services/T0001/B0001/{p['webhook path']}",
        "argv": ["mysql", "--password", p["flag value"]],
        "header": f"Bearer {p['bare bearer']}",
    }
    server = {
        "type": "mcp_server",
        "exists": True,
        "id": "mcp_1",
        "source": "personal",
        "user_id": "u",
        "name": "remote",
        "transport": "stdio",
        "command": "npx",
        "args": [
            "mcp-remote",
            f"https://mcp.example.com/v1/{p['server URL path']}/sse",
            "--header",
            f"Authorization: Bearer {p['stdio server --header']}",
        ],
        "url": None,
        "headers": {"Ocp-Apim-Subscription-Key": p["subscription key header"]},
        "env": ["GITHUB_TOKEN"],
        "tool": {"name": "run", "annotations": {}, "arguments": arguments},
    }
    return {
        "action": "tool.call",
        "subject": {"id": "u", "email": "u@example.com", "roles": []},
        "resource": server,
        "request": {"method": "POST", "path": "/mcp", "req_id": "r"},
        "context": {"enterprise_id": None},
    }


async def test_no_planted_secret_of_a_tool_call_survives_the_shipped_mask() -> None:
    masker = Masker(EmbeddedRegoEngine(REPO_POLICY_DIR))
    masked = await masker.mask(_record(_tool_call(), action="tool.call"))
    encoded = msgspec.json.encode(masked).decode()
    for where, secret in PLANTED.items():
        assert secret not in encoded, f"the {where} secret is in the record"
    assert masked.erased == []  # nothing erased: every secret replaced where it was
    tool = "/input/resource/tool/arguments"
    assert masked.masked == [
        "/input/resource/args/1",
        "/input/resource/args/3",
        "/input/resource/headers/Ocp-Apim-Subscription-Key",
        f"{tool}/api_key",
        f"{tool}/argv/2",
        f"{tool}/batch/0/items/0/client_secret",
        f"{tool}/command",  # two secrets in one string
        f"{tool}/dsn",
        f"{tool}/header",
        f"{tool}/password",
        f"{tool}/url",
        f"{tool}/webhook",
    ]
    arguments = masked.input["resource"]["tool"]["arguments"]
    assert arguments["path"] == "/tmp/x" and arguments["flags"] == ["--verbose"]  # kept
    assert arguments["password"] == "***"
    assert arguments["command"] == (
        "curl --header \"Authorization: Bearer ***\" -H 'X-Api-Key: ***' https://api.example.com"
    )
    assert masked.input["resource"]["args"][3] == "Authorization: Bearer ***"
    assert masked.input["resource"]["env"] == ["GITHUB_TOKEN"]  # names, kept


async def test_a_prompts_credential_argument_is_hidden() -> None:
    masker = Masker(EmbeddedRegoEngine(REPO_POLICY_DIR))
    prompt = {"name": "summarize", "arguments": {"api_key": "k-PLANTED-13", "topic": "weather"}}
    record = _record(
        {
            "action": "prompt.get",
            "subject": {"id": "u"},
            "resource": {"type": "mcp_server", "id": "mcp_1", "prompt": prompt},
        },
        action="prompt.get",
    )
    masked = await masker.mask(record)
    assert "k-PLANTED-13" not in msgspec.json.encode(masked).decode()
    assert masked.masked == ["/input/resource/prompt/arguments/api_key"]
    assert masked.input["resource"]["prompt"]["arguments"]["topic"] == "weather"


async def test_an_input_known_to_mask_nothing_is_kept_as_the_engines_json() -> None:
    """The engine's JSON (msgspec.Raw, as the recorder keeps it) that the mask left alone
    once is kept as is the next time, request id aside, without being decoded; one it masks
    is masked every time, from memory as well."""
    masker = Masker(EmbeddedRegoEngine(REPO_POLICY_DIR))

    def raw(req_id: str, token: str | None = None) -> DecisionRecord:
        request: dict[str, Any] = {"method": "GET", "req_id": req_id}
        if token is not None:
            request["token"] = token
        doc = {"action": "mcp_server.read", "request": request, "subject": {"id": "u"}}
        return msgspec.structs.replace(
            _record({}), input=msgspec.Raw(msgspec.json.encode(doc)), req_id=req_id
        )

    plain_first, plain_again = raw("r1"), raw("r2")
    assert (await masker.mask(plain_first)).input == msgspec.json.decode(plain_first.input)
    evaluated = masker.evaluations
    kept = await masker.mask(plain_again)
    assert kept.input is plain_again.input and kept.erased == []  # untouched bytes
    assert masker.evaluations == evaluated  # from memory

    for req_id in ("r3", "r4"):
        secret = await masker.mask(raw(req_id, token="sk-SECRET"))
        assert secret.erased == ["/input/request/token"]
        assert "SECRET" not in repr(secret.input) and secret.input["request"]["req_id"] == req_id
    # A different record under the same input is another event: not taken for the first.
    denied = msgspec.structs.replace(raw("r5"), result={"allow": False})
    assert masker._raw_key(denied) != masker._raw_key(plain_again)
