"""Shared fixtures. Real parts only: a throwaway redis-server and OpenBao dev server, started
on free ports by the plugins below (never the shared Redis on 6379)."""

from __future__ import annotations

pytest_plugins = ["tests.fixtures.redis_server", "tests.fixtures.openbao", "tests.fixtures.gateway"]
