"""What the harness measures per row, and how one row is probed and selected."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, Self


class Watch(Protocol):
    """What a scenario runs around one row's wrk runs (entered before the warm-up, left after
    the measured run): its own figures for the row, e.g. the view cache's misses."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def mark(self) -> None:
        """Just before the measured run."""

    def record(self, row: dict[str, Any], requests: int) -> str:
        """After it: add the figures to `row`; what to add to the log line."""
        ...


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    method: str
    path: str  # `{server_id}` is filled in after seeding
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    target: str = "gateway"  # the process loaded: "gateway", "bare" or "upstream"
    behind: str = ""  # a process whose CPU is part of each request's cost too ("upstream")
    watch: Callable[[str], Watch] | None = None  # given the Redis URL
    hook_until_routed: bool = False  # skipped (with a note) while the route answers 404
    rotate: bool = False  # each request takes the next of the user's personal servers
    creators: int = 0  # each request as the next of this many users (not the measured one)
    mcp: bool = False  # needs the MCP upstream (scenarios/mcp.py); probed for a JSON-RPC result
    part_of: str = ""  # `--only <part_of>` selects it too
    # Sends `If-None-Match: <the view's ETag>` (the tag the gateway gave the seeded view).
    if_none_match: bool = False
    # The probe must answer this status (e.g. 304), else the row is skipped with a note: a
    # gateway that ignores If-None-Match would be measured sending 200s under a 304 label.
    # wrk counts only statuses >= 400 as errors (`non_2xx`), so a 304 is a success there.
    expect_status: int = 0
    note: str = ""


def probe_status(base: str, endpoint: Endpoint, path: str, token: str) -> int:
    import httpx

    headers = {"Authorization": f"Bearer {token}", **dict(endpoint.headers)}
    if endpoint.body is not None:
        headers["Content-Type"] = "application/json"
    response = httpx.request(
        endpoint.method, base + path, headers=headers, content=endpoint.body, timeout=30
    )
    return response.status_code


def selected(args: argparse.Namespace, endpoint: Endpoint) -> bool:
    return not args.only or bool({endpoint.key, endpoint.part_of} & args.only)
