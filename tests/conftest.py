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


# The longest tests (and one module whose shared fixture is the cost), longest first: measured
# on the embedded pass (`--durations`, 2 workers, docs/testing.md "Timings"), 10-48 s each.
# xdist hands tests out in collection order, so left where they are they ran last, one worker
# busy with the policy properties for 90 s while the other had nothing left. Only the order
# changes: a name no longer here (renamed, or faster now) costs time, never a test.
RUN_FIRST = (
    "tests/integration/test_opa_bundles.py::test_opa_runs_only_checked_bundles_under_the_",
    "tests/policies/test_policy_properties.py::test_an_invitee_gets_nothing_before_accepting",
    "tests/policies/test_policy_properties.py::test_nobody_sees_another_user_s_personal_server",
    "tests/unit/test_compose.py::test_opa_runs_the_bundle_the_gateway_serves",
    "tests/policies/test_policy_properties.py::test_a_member_never_writes_an_enterprise_s_serve",
    "tests/api/test_worked_example.py::test_the_example_and_the_shipped_tests_pass_together",
    "tests/api/test_metrics.py::test_with_workers_any_worker_answers_the_sum_of_all",
    "tests/unit/policy/test_spare_revisions.py::test_rego_test_outcomes_follow_the_files",
    "tests/integration/test_opa_bundles.py::test_opa_verifies_the_signature_of_data_with_any_",
    "tests/api/test_generated_client.py::",
    "tests/unit/test_config_and_cli.py::test_policy_test_command",
    "tests/unit/policy/test_policy_cli.py::test_test_runs_one_pattern_and_shows_what_a_failure",
    "tests/policies/test_policy_properties.py::test_a_non_member_is_never_allowed_anything_on_",
    "tests/reliability/test_faults.py::test_vault_stopped_or_killed_fails_only_credentials_and",
    "tests/api/test_idempotency.py::test_kept_answers_stay_within_the_bound_per_subject",
    "tests/api/test_policy_author.py::test_a_deny_rule_rolls_out_bites_everywhere_and_survives",
    "tests/reliability/test_consistency.py::test_two_replicas_under_mixed_load_store_exactly_",
    "tests/console/test_console_browser.py::test_an_auditor_logs_in_finds_bobs_denial_sees_the",
    "tests/unit/policy/test_bundle.py::test_a_failing_rego_test_stops_the_bundle",
)


def _run_first_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(RUN_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(RUN_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first (RUN_FIRST; a stable sort, every worker collects the same
    order). The OPA pass (`--engine=opa`) re-runs what the engine decides; a test marked
    `engine_independent` (a sandbox's walls, an OAuth login) checks nothing the engine
    decides, and runs on the embedded-engine pass only."""
    items.sort(key=_run_first_rank)
    if config.getoption("--engine") != "opa":
        return
    skip = pytest.mark.skip(reason="engine-independent: covered by the embedded-engine pass")
    for item in items:
        if item.get_closest_marker("engine_independent"):
            item.add_marker(skip)
