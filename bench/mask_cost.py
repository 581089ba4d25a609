"""What masking one decision record costs on the embedded engine (regopy): the shipped
`data.system.log.mask` evaluated on a `tool.call` record with arguments and on a plain /v1
record, each a new input (the Masker's memory of recent answers off). Run by hand:
`.venv/bin/python -m bench.mask_cost [--records N]`. The writer masks off the request path, so
this is the writer's CPU per record, not request latency (docs/audit.md)."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from gateway.audit.masking import Masker
from gateway.audit.records import BundleInfo, DecisionRecord
from gateway.config import REPO_POLICY_DIR
from gateway.policy.embedded import EmbeddedRegoEngine

TOOL_CALL: dict[str, Any] = {
    "action": "tool.call",
    "subject": {"id": "u", "email": "u@example.com"},
    "request": {"method": "POST", "path": "/mcp"},
    "tool": {
        "name": "files__read_file",
        "server": {
            "name": "files",
            "url": "https://files.example/mcp",
            "headers": {"Authorization": "Bearer ${FILES_TOKEN}"},
        },
    },
    "arguments": {"query": "select * from orders where id = 42", "notes": "a long text " * 30},
}
PLAIN: dict[str, Any] = {
    "action": "mcp_server.list",
    "subject": {"id": "u"},
    "request": {"method": "GET", "path": "/v1/mcp-servers"},
}


def _record(input_: dict[str, Any]) -> DecisionRecord:
    return DecisionRecord(
        decision_id="d",
        path="gateway/authz/decision",
        action=input_["action"],
        input=input_,
        result={"allow": True},
        timestamp="2026-01-01T00:00:00.000000Z",
        bundles={"gateway": BundleInfo(revision="r")},
        labels={"id": "x", "version": "0", "engine": "embedded"},
    )


async def _per_record(masker: Masker, base: dict[str, Any], records: int, vary: str) -> float:
    started = time.perf_counter()
    for i in range(records):
        await masker.mask(_record({**base, vary: {**base[vary], "id": f"v{i}"}}))
    return (time.perf_counter() - started) / records * 1000


async def main(records: int) -> None:
    masker = Masker(EmbeddedRegoEngine(REPO_POLICY_DIR), remember=0)
    await _per_record(masker, TOOL_CALL, 20, "arguments")  # warm-up
    tool = await _per_record(masker, TOOL_CALL, records, "arguments")
    plain = await _per_record(masker, PLAIN, records, "subject")
    print(f"tool.call record with arguments: {tool:.2f} ms per mask")
    print(f"plain /v1 record:                {plain:.2f} ms per mask")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=300)
    asyncio.run(main(parser.parse_args().records))
