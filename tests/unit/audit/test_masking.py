"""Masking is the policy's (`data.system.log.mask`, OPA's way): the paths it names are erased
and listed in `erased`; a mask that cannot be read erases the whole input, never none of it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gateway.audit.masking import Masker
from gateway.audit.records import BundleInfo, DecisionRecord
from gateway.config import REPO_POLICY_DIR
from gateway.policy.embedded import EmbeddedRegoEngine


def _record(input_: dict[str, Any]) -> DecisionRecord:
    return DecisionRecord(
        decision_id="d",
        path="gateway/authz/decision",
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
