"""Shared fixtures. Real parts only: a throwaway redis-server, OpenBao dev server, OPA and
Ory Hydra (the OAuth authorization server), started on free ports by the plugins below (never
the shared Redis on 6379)."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.redis_server",
    "tests.fixtures.openbao",
    "tests.fixtures.opa_server",
    "tests.fixtures.gateway",
    "tests.fixtures.hydra",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine",
        choices=["embedded", "opa"],
        default="embedded",
        help="the policy engine the gateway fixtures use (opa: a real `opa run --server`)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The OPA pass (`--engine=opa`) re-runs what the engine decides; a test marked
    `engine_independent` (a sandbox's walls, an OAuth login) checks nothing the engine
    decides, and runs on the embedded-engine pass only."""
    if config.getoption("--engine") != "opa":
        return
    skip = pytest.mark.skip(reason="engine-independent: covered by the embedded-engine pass")
    for item in items:
        if item.get_closest_marker("engine_independent"):
            item.add_marker(skip)
