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
