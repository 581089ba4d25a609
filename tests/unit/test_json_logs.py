"""GATEWAY_LOG_FORMAT=json (issue 13): one JSON object per line, carrying the request id and
the decision ids of the request when there are any, and no bearer token, JWT, Vault token or
configured secret in any line, whatever a message or traceback quotes."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from gateway.audit.records import DecisionRecord
from gateway.audit.scope import RequestScope, entered
from gateway.auth.dev_tokens import mint_dev_token
from gateway.config import ConfigError, Settings, load_settings
from gateway.domain.requests import RequestInfo
from gateway.observability.logs import formatter
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller
from tests.fixtures.policies import minimal_policy

VAULT_TOKEN = "hvs.CAESIJ1hc2tlZC12YXVsdC10b2tlbi1mb3ItdGVzdHM"
SECRETS = (JWT_SECRET, VAULT_TOKEN, None)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("json", SECRETS))
    logger = logging.getLogger("gateway")
    logger.addHandler(handler)
    try:
        yield logger, out, handler
    finally:
        logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [msgspec.json.decode(line) for line in out.getvalue().splitlines()]


def _record(decision_id: str) -> DecisionRecord:
    return DecisionRecord(
        decision_id=decision_id,
        path="gateway/authz/decision",
        input={},
        result={"allow": False},
        timestamp="2026-01-01T00:00:00Z",
        bundles={},
        labels={},
    )


def test_a_line_inside_a_request_carries_its_request_and_decision_ids(
    captured: tuple[logging.Logger, io.StringIO, object],
) -> None:
    logger, out, _ = captured
    logger.warning("outside any request")
    served = RequestScope(RequestInfo(method="GET", path="/x", req_id="req-7"), read_ahead=False)
    served.records += [_record("d-1"), _record("d-2")]
    with entered(served):
        logger.error("inside: %s", "a detail")
    outside, inside = lines(out)
    assert outside["message"] == "outside any request"
    assert "req_id" not in outside and "decision_ids" not in outside
    assert inside["message"] == "inside: a detail"
    assert (inside["level"], inside["logger"]) == ("ERROR", "gateway")
    assert inside["req_id"] == "req-7"
    assert inside["decision_ids"] == ["d-1", "d-2"]
    assert str(inside["time"]).endswith("+00:00")


def test_no_token_or_secret_reaches_a_line(
    captured: tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]],
) -> None:
    logger, out, handler = captured
    jwt = mint_dev_token(JWT_SECRET, sub="alice", email="alice@example.com")
    logger.warning("upstream said: Authorization: Bearer %s", "opaque-upstream-token-123")
    logger.warning("a token in a query: ?token=%s", jwt)
    try:
        raise RuntimeError(f"vault refused {VAULT_TOKEN} (secret {JWT_SECRET})")
    except RuntimeError:
        logger.exception("while calling vault")
    text = out.getvalue()
    for secret in ("opaque-upstream-token-123", jwt, VAULT_TOKEN, JWT_SECRET):
        assert secret not in text
    bearer, query, failure = lines(out)
    assert bearer["message"] == "upstream said: Authorization: Bearer ***"
    assert query["message"] == "a token in a query: ?token=***"
    assert "RuntimeError: vault refused *** (secret ***)" in str(failure["exc"])
    # The text format is redacted alike.
    handler.setFormatter(formatter("text", SECRETS))
    logger.warning("Bearer %s", jwt)
    assert out.getvalue().splitlines()[-1] == "WARNING gateway: Bearer ***"


async def test_a_request_that_logs_is_joined_to_its_decision(
    tmp_path: Path,
    start_gateway: AppFactory,
    captured: tuple[logging.Logger, io.StringIO, object],
) -> None:
    """A malformed decision is logged as an error while the request runs: the line has the
    request's X-Request-Id and the X-Decision-Id of the decision it is about."""
    _, out, _ = captured
    client = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, policy_dir=str(_malformed_policy(tmp_path)))
    )
    response = await caller(client, "alice").post(
        "/v1/mcp-servers",
        json={"name": "t", "transport": "stdio", "command": "uvx"},
        headers={"X-Request-Id": "req-json-logs-1"},
    )
    assert response.status_code == 404
    about = [line for line in lines(out) if "malformed decision" in str(line["message"])]
    assert len(about) == 1
    assert about[0]["req_id"] == "req-json-logs-1"
    # Every decision the request has taken so far; the last is the one the line is about.
    decision_ids = about[0]["decision_ids"]
    assert isinstance(decision_ids, list)
    assert decision_ids[-1] == response.headers["x-decision-id"]


def _malformed_policy(tmp_path: Path) -> Path:
    return minimal_policy(
        tmp_path,
        'decision := {"allow": "yes", "visible": true} if input.action == "mcp_server.create"\n'
        'decision := {"allow": false, "visible": false, "reasons": []} '
        'if input.action != "mcp_server.create"\n',
    )


def test_the_format_is_a_setting() -> None:
    base = {"GATEWAY_JWT_SECRET": JWT_SECRET}
    assert load_settings(base).log_format == "text"
    assert load_settings({**base, "GATEWAY_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="GATEWAY_LOG_FORMAT"):
        load_settings({**base, "GATEWAY_LOG_FORMAT": "xml"})
