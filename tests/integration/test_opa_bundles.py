"""OPA run the way production runs it (issue 25): fed with the gateway's own bundle
(`GET /v1/policy/bundle`, signed), its status read back, one revision id on both engines,
and no unchecked policy ever live.

Real parts only: a `gateway serve` process (OPA mode, serving the bundle of a policy
directory of the test's own), the real OPA polling it with a bearer token and verifying the
signature, OPA's status API read by the gateway. The tampered and unsigned bundles are
served to a second OPA by a static file server, as a compromised or misconfigured bundle
server would."""

from __future__ import annotations

import asyncio
import http.server
import io
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import REGISTRY

from gateway.config import REPO_POLICY_DIR, Settings
from gateway.policy.bundle import BundleSigner, build_bundle, checked_sources
from gateway.policy.embedded import compile_policy
from tests.fixtures.gateway import AUDIENCES, JWT_SECRET, AppFactory, token_for
from tests.fixtures.live_gateway import LiveGateway, live_gateway
from tests.fixtures.opa_server import OPAServer
from tests.fixtures.ports import free_port

TOKEN = "bundle-token-for-the-opa-tests"
KEY = "bundle-signing-key-for-the-tests-0123456789"
EXAMPLE = REPO_POLICY_DIR.parent / "docs" / "examples" / "contractors" / "gateway"
TYPO = "input.proposed.transprt"  # the misspelled field of the issue


def _opa_config(service_url: str, resource: str, *, key: str = KEY) -> dict[str, Any]:
    """A sidecar's configuration as docs/policies.md gives it: the gateway as the bundle
    service (bearer token), a signed bundle verified with the gateway's key, the status API
    on (`prometheus: true` turns it on without pushing it anywhere)."""
    return {
        "services": {"gateway": {"url": service_url, "credentials": {"bearer": {"token": TOKEN}}}},
        "bundles": {
            "gateway": {
                "service": "gateway",
                "resource": resource,
                "polling": {"min_delay_seconds": 1, "max_delay_seconds": 1},
                "signing": {"keyid": "gateway"},
            }
        },
        "keys": {"gateway": {"key": key, "algorithm": "HS256"}},
        "status": {"prometheus": True},
    }


def _opa_bundle_status(opa: OPAServer) -> dict[str, Any]:
    """OPA's own status of the `gateway` bundle ({} before its first report)."""
    result = httpx.get(f"{opa.url}/v1/status", timeout=2).json().get("result") or {}
    status: dict[str, Any] = (result.get("bundles") or {}).get("gateway") or {}
    return status


def _wait(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what} (last: {last!r})")


def _policies(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, copy)
    return copy


def _contractor(user: str) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": user,
            "email": f"{user}@example.com",
            "roles": [],
            "groups": ["contractors"],
            "iat": now,
            "exp": now + 600,
            "aud": list(AUDIENCES),
        },
        JWT_SECRET,
        algorithm="HS256",
    )
    return {"Authorization": f"Bearer {token}"}


def _rejected_reloads(engine: str) -> float:
    """This process's count (the in-process gateway's metrics)."""
    value = REGISTRY.get_sample_value("gateway_policy_rejected_reloads_total", {"engine": engine})
    return value or 0.0


def _readyz(gateway: LiveGateway) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{gateway.base_url}/readyz", timeout=5).json()
    return body


def _stdio(name: str) -> dict[str, Any]:
    return {"name": name, "transport": "stdio", "command": "npx", "args": ["-y", "pkg"]}


@contextmanager
def _sidecar_world(tmp_path: Path) -> Iterator[tuple[LiveGateway, OPAServer, Path]]:
    """A gateway in OPA mode serving the bundle of its policy directory (signed), and its
    OPA, configured to fetch that bundle from it."""
    policies = _policies(tmp_path)
    opa_port = free_port()
    with live_gateway(
        tmp_path,
        GATEWAY_OPA_URL=f"http://127.0.0.1:{opa_port}",
        GATEWAY_POLICY_DIR=str(policies),
        GATEWAY_POLICY_POLL_SECONDS="0.5",
        GATEWAY_BUNDLE_TOKEN=TOKEN,
        GATEWAY_BUNDLE_SIGNING_KEY=KEY,
        GATEWAY_JWT_CLAIMS="groups",
    ) as gateway:
        opa = OPAServer(
            None, tmp_path, port=opa_port, config=_opa_config(gateway.base_url, "/v1/policy/bundle")
        )
        try:
            yield gateway, opa, policies
        finally:
            opa.stop()


def test_opa_runs_only_checked_bundles_under_the_embedded_revision(tmp_path: Path) -> None:
    with _sidecar_world(tmp_path) as (gateway, _opa, policies):
        revision = compile_policy(policies).revision
        ready = _wait(
            "OPA activates the gateway's bundle",
            lambda: (r := _readyz(gateway))["policy"]["revision"] == revision and r,
        )
        # One revision id for the same files: the embedded engine's, the bundle's, OPA's.
        assert ready["policy_bundle"]["revision"] == revision
        assert ready["policy_bundle"]["signed"] is True
        assert ready["policy"]["last_rejected"] is None

        # A decision made by OPA is recorded with the revision OPA says answered it.
        with gateway.client("bob") as bob, gateway.client("ann") as ann_plain:
            listed = bob.get("/v1/mcp-servers")
            assert listed.status_code == 200
            auditor = {"Authorization": f"Bearer {token_for('ann', roles=('auditor',))}"}
            record = ann_plain.get(
                f"/v1/audit/decisions/{listed.headers['x-decision-id']}", headers=auditor
            ).json()
            assert record["bundles"] == {"gateway": {"revision": revision}}
            assert record["labels"]["engine"] == "opa"
            status = ann_plain.get("/v1/policy/status", headers=auditor)
            assert status.status_code == 200, status.text
            assert status.json()["engine"] == "opa"
            assert status.json()["policy"]["revision"] == revision
            assert bob.get("/v1/policy/status").status_code == 403

        # The module: a contractor ban reading a field the input does not have.
        authz = policies / "gateway" / "authz"
        shutil.copytree(EXAMPLE / "contractors", policies / "gateway" / "contractors")
        ban = (EXAMPLE / "authz" / "contractors.rego").read_text()
        (authz / "contractors.rego").write_text(ban.replace("input.proposed.transport", TYPO))
        refused = _wait(
            "the misspelled module is refused before any bundle is written",
            lambda: _readyz(gateway)["policy_bundle"]["last_rejected"],
        )
        assert "transprt" in refused["error"], refused
        bundle = httpx.get(
            f"{gateway.base_url}/v1/policy/bundle",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert bundle.headers["etag"] == f'"{revision}-s"'  # still the checked one
        time.sleep(2.5)  # two of OPA's polls: nothing new to fetch
        assert _readyz(gateway)["policy"]["revision"] == revision
        metrics = httpx.get(f"{gateway.base_url}/metrics", timeout=5).text
        assert 'gateway_policy_rejected_reloads_total{engine="bundle"} 1.0' in metrics

        # Fixed: the ban goes live on OPA within its polling interval (and the refusal goes).
        (authz / "contractors.rego").write_text(ban)
        fixed = compile_policy(policies).revision
        ready = _wait(
            "OPA activates the fixed bundle",
            lambda: (r := _readyz(gateway))["policy"]["revision"] == fixed and r,
        )
        assert ready["policy_bundle"] == {
            **ready["policy_bundle"],
            "revision": fixed,
            "last_rejected": None,
        }
        created = httpx.post(
            f"{gateway.base_url}/v1/mcp-servers",
            json=_stdio("local-tool"),
            headers=_contractor("carl"),
            timeout=5,
        )
        assert created.status_code == 403, created.text
        assert [r["code"] for r in created.json()["reasons"]] == ["contractors_no_stdio"]

        # Replay names the revision OPA decided under and re-decides under that very bundle.
        old_bundle = tmp_path / "decided.tar.gz"
        old_bundle.write_bytes(bundle.content)
        replayed = subprocess.run(
            [
                sys.executable, "-m", "gateway.cli", "policy", "replay", "--json",
                "--candidate", str(old_bundle), "--url", gateway.base_url,
                "--token", token_for("ann", roles=("auditor",)), "--user", "bob",
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert replayed.returncode == 0, replayed.stderr
        report = msgspec.json.decode(replayed.stdout)
        assert report["candidate_revision"] == revision
        assert report["decided_under"].get(f"{revision} (opa)", 0) >= 1
        assert report["flips"] == []


@contextmanager
def _static(files: dict[str, bytes]) -> Iterator[str]:
    """A bundle server that serves fixed bytes (and ignores the token)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _tampered(bundle: bytes) -> bytes:
    """The same bundle, its signature kept, one module changed (an allow for everyone)."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as source,
        tarfile.open(fileobj=out, mode="w:gz") as target,
    ):
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith("gateway/authz/servers.rego"):
                data += b"\ngrant if true\n"
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("served", ["tampered", "unsigned"])
async def test_opa_refuses_a_bundle_not_signed_by_the_gateway_and_it_shows(
    served: str, tmp_path: Path, start_gateway: AppFactory
) -> None:
    sources = checked_sources(REPO_POLICY_DIR)
    signed = build_bundle(sources, BundleSigner(key=KEY)).data
    body = _tampered(signed) if served == "tampered" else build_bundle(sources).data
    counted = _rejected_reloads("opa")
    with _static({"/bundle.tar.gz": body}) as url:
        opa = OPAServer(None, tmp_path, config=_opa_config(url, "/bundle.tar.gz"))
        try:
            client = await start_gateway(
                Settings(jwt_secret=JWT_SECRET, opa_url=opa.url, policy_poll_seconds=0.2)
            )

            async def refused() -> dict[str, Any] | None:
                ready = (await client.get("/readyz")).json()
                rejected: dict[str, Any] | None = ready["policy"]["last_rejected"]
                return rejected

            deadline = time.monotonic() + 20
            rejected = await refused()
            while rejected is None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                rejected = await refused()
        finally:
            opa.stop()
    assert rejected is not None, "OPA's refusal never reached /readyz"
    expected = "digest mismatch" if served == "tampered" else "missing .signatures.json"
    assert expected in rejected["error"], rejected
    assert _rejected_reloads("opa") == counted + 1  # once, though OPA retried every second


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
def test_opa_verifies_the_signature_of_data_with_any_characters(
    tmp_path: Path, algorithm: str
) -> None:
    """The digest of a structured file is OPA's (Go's JSON string encoding, sorted keys, the
    number literals written): a data.json holding what Go escapes differently from Python —
    non-ASCII, U+2028, control characters, `<>&` — verifies, and activates; with a shared
    secret, and with a PEM key pair (OPA holds only the public key)."""
    signing, verifying = (KEY, KEY) if algorithm == "HS256" else _rsa_pair()
    policies = _policies(tmp_path)
    odd = {"odd": ["é ü 中", "\u2028\u2029", "\b\f\n\r\t\x01\x1f", "<a href='x'>&</a>", 1.5, -7]}
    (policies / "gateway" / "odd").mkdir()
    (policies / "gateway" / "odd" / "data.json").write_text(msgspec.json.encode(odd).decode())
    signer = BundleSigner(key=signing)
    assert signer.algorithm == algorithm
    bundle = build_bundle(checked_sources(policies), signer)
    with _static({"/b.tar.gz": bundle.data}) as url:
        config = _opa_config(url, "/b.tar.gz", key=verifying)
        config["keys"]["gateway"]["algorithm"] = algorithm
        opa = OPAServer(None, tmp_path, config=config)
        try:
            status = _wait(
                "OPA activates the signed bundle",
                lambda: _opa_bundle_status(opa).get("active_revision"),
            )
            served = httpx.get(f"{opa.url}/v1/data/gateway/odd", timeout=2).json()["result"]
        finally:
            opa.stop()
    assert status == bundle.revision
    assert served == odd
