"""`GET /v1/policy/bundle` (what OPA sidecars poll: the operator's token, an ETag, 304 until
the policy changes) and `GET /v1/policy/status` (a subject's read, decided by the policy)."""

from __future__ import annotations

import pytest

from gateway.config import REPO_POLICY_DIR, ConfigError, Settings, load_settings
from gateway.policy.bundle import BundleSigner, build_bundle, checked_sources
from gateway.policy.embedded import compile_policy
from tests.fixtures.gateway import JWT_SECRET, AppFactory, decision_records, token_for

TOKEN = "bundle-token-for-the-api-tests"
KEY = "bundle-signing-key-for-the-tests-0123456789"
BUNDLE = "/v1/policy/bundle"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_bundle_is_served_to_the_token_only(start_gateway: AppFactory) -> None:
    client = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, bundle_token=TOKEN, bundle_signing_key=KEY)
    )
    expected = build_bundle(checked_sources(REPO_POLICY_DIR), BundleSigner(key=KEY))

    anonymous = await client.get(BUNDLE)
    wrong = await client.get(BUNDLE, headers={"Authorization": "Bearer not-the-token-at-all"})
    a_user = await client.get(BUNDLE, headers=_bearer(token_for("alice")))
    served = await client.get(BUNDLE, headers={"Authorization": f"Bearer {TOKEN}"})
    again = await client.get(
        BUNDLE,
        headers={"Authorization": f"Bearer {TOKEN}", "If-None-Match": served.headers["etag"]},
    )

    assert (anonymous.status_code, wrong.status_code, a_user.status_code) == (401, 401, 401)
    assert 'realm="policy-bundle"' in anonymous.headers["www-authenticate"]
    assert served.status_code == 200
    assert served.content == expected.data
    assert served.headers["content-type"] == "application/gzip"
    assert served.headers["etag"] == f'"{expected.revision}-s"'
    assert again.status_code == 304 and again.content == b""
    ready = (await client.get("/readyz")).json()
    assert ready["policy_bundle"]["revision"] == expected.revision
    assert ready["policy_bundle"]["signed"] is True


async def test_no_bundle_is_served_without_a_token(start_gateway: AppFactory) -> None:
    client = await start_gateway(Settings(jwt_secret=JWT_SECRET))
    answer = await client.get(BUNDLE, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404
    assert (await client.get("/readyz")).json()["policy_bundle"] is None


async def test_the_policy_status_is_the_policys_to_show(start_gateway: AppFactory) -> None:
    client = await start_gateway(Settings(jwt_secret=JWT_SECRET, bundle_token=TOKEN))
    auditor = await client.get(
        "/v1/policy/status", headers=_bearer(token_for("ann", roles=("auditor",)))
    )
    owner = await client.get("/v1/policy/status", headers=_bearer(token_for("bob")))

    assert auditor.status_code == 200, auditor.text
    report = auditor.json()
    ready = (await client.get("/readyz")).json()
    assert report["engine"] in ("embedded", "opa")
    assert report["policy"]["revision"] == ready["policy"]["revision"]  # whichever engine
    assert report["policy"]["last_rejected"] is None
    assert report["bundle"]["revision"] == compile_policy(REPO_POLICY_DIR).revision
    assert report["bundle"]["signed"] is False
    assert owner.status_code == 403
    decided = [r for r in await decision_records(client) if r.action == "policy.read"]
    assert {(r.subject_id, r.allowed) for r in decided} == {("ann", True), ("bob", False)}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GATEWAY_BUNDLE_TOKEN": "short"}, "GATEWAY_BUNDLE_TOKEN: at least 16"),
        ({"GATEWAY_BUNDLE_SIGNING_KEY": KEY}, "set GATEWAY_BUNDLE_TOKEN too"),
        (
            {"GATEWAY_BUNDLE_TOKEN": TOKEN, "GATEWAY_BUNDLE_SIGNING_KEY": "short"},
            "GATEWAY_BUNDLE_SIGNING_KEY: an HMAC secret of at least 32 bytes",
        ),
        ({"GATEWAY_BUNDLE_SIGNING_KEY_ID": "a b"}, "GATEWAY_BUNDLE_SIGNING_KEY_ID: 'a b'"),
    ],
)
def test_bundle_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"GATEWAY_JWT_SECRET": JWT_SECRET, **env})
