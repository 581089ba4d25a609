"""The gateway on a real OPA (`opa run --server`): OPA's decision ids become the gateway's,
its revision follows what OPA serves, and every failure OPA can show fails closed — a 503
or a deny, never an allow."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.cli import main
from gateway.cli.policy_push import push
from gateway.config import REPO_POLICY_DIR, Settings
from tests.fixtures.gateway import JWT_SECRET, AppFactory, Caller, caller, decision_records
from tests.fixtures.opa_server import OPAServer

pytestmark = pytest.mark.opa

SERVER = {"name": "time", "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}

# The shipped policy's one `decision` rule, replaced by these tests for one action.
DECISION_RULE = (
    'decision := object.union({"allow": _allowed, "visible": visible, "reasons": reasons}, '
    "_approval_part)"
)


def _copy(tmp_path: Path, decision: str | None = None) -> Path:
    """The shipped policies; with `decision`, that answer for mcp_server.create only (the
    rest stays well formed)."""
    root = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, root, ignore=shutil.ignore_patterns("*_test.rego"))
    if decision is not None:
        path = root / "gateway" / "authz" / "decision.rego"
        assert DECISION_RULE in path.read_text()  # else the replacement below does nothing
        path.write_text(
            path.read_text().replace(
                DECISION_RULE,
                f'decision := {decision} if input.action == "mcp_server.create"\n\n'
                f"{DECISION_RULE} "
                'if input.action != "mcp_server.create"',
            )
        )
    return root


async def _alice_on(start_gateway: AppFactory, url: str, **settings: float) -> Caller:
    app: AsyncTestClient[Litestar] = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, opa_url=url, **settings)  # type: ignore[arg-type]
    )
    return caller(app, "alice")


async def test_decisions_are_opas_and_joined_by_id(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory
) -> None:
    opa = opa_server(_copy(tmp_path))
    alice = await _alice_on(start_gateway, opa.url)
    created = await alice.post("/v1/mcp-servers", json=SERVER)
    assert created.status_code == 201, created.text
    decision_id = created.headers["x-decision-id"]
    record = next(r for r in await decision_records(alice.client) if r.decision_id == decision_id)
    assert record.labels["engine"] == "opa"
    deadline = time.monotonic() + 5  # OPA writes its console log asynchronously
    while decision_id not in opa.log():
        assert time.monotonic() < deadline, "OPA's decision log lacks the gateway's id"
        await asyncio.sleep(0.05)
    ready = (await alice.get("/readyz")).json()
    assert ready["checks"]["policy_engine"] == "ok"
    assert record.revision == ready["policy"]["revision"] != "unknown"


async def test_an_opa_that_is_down_is_a_503_and_not_ready(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory
) -> None:
    opa = opa_server(_copy(tmp_path))
    alice = await _alice_on(start_gateway, opa.url)
    assert (await alice.get("/v1/mcp-servers")).status_code == 200
    opa.stop()
    refused = await alice.get("/v1/mcp-servers")
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert "connection failed" in refused.json()["detail"]
    assert str(opa.port) not in refused.text  # the backend is named, its address is not
    ready = await alice.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["policy_engine"] != "ok"


async def test_an_opa_that_hangs_is_a_503_after_the_timeout(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory
) -> None:
    opa = opa_server(_copy(tmp_path))
    alice = await _alice_on(start_gateway, opa.url, opa_timeout_seconds=0.3)
    assert (await alice.get("/v1/mcp-servers")).status_code == 200
    opa.pause()
    try:
        # An answer at all is the gateway's own timeout: a stopped OPA never answers.
        hung = await alice.post("/v1/mcp-servers", json=SERVER)
        assert hung.status_code == 503, hung.text
        assert "timed out" in hung.json()["detail"]
    finally:
        opa.resume()
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 201


async def test_an_opa_error_answer_is_a_503(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory
) -> None:
    root = _copy(tmp_path, '{"allow": true, "visible": true, "reasons": []}')
    (root / "gateway" / "authz" / "conflict.rego").write_text(
        "package gateway.authz\n\n"
        'decision := {"allow": false, "visible": true, "reasons": []} '
        'if input.action == "mcp_server.create"\n'
    )  # two values for one complete rule: OPA answers 500 (eval_conflict_error)
    alice = await _alice_on(start_gateway, opa_server(root).url)
    response = await alice.post("/v1/mcp-servers", json=SERVER)
    assert response.status_code == 503, response.text
    assert "HTTP 500" in response.json()["detail"]


@pytest.mark.parametrize(
    "decision",
    [
        '{"allow": "yes", "visible": true, "reasons": []}',  # the wrong shape
        '{"allow": true, "visible": true}',  # reasons missing
        "1",  # not even an object
    ],
)
async def test_a_wrong_shape_is_a_deny(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory, decision: str
) -> None:
    alice = await _alice_on(start_gateway, opa_server(_copy(tmp_path, decision)).url)
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 404
    assert (await alice.get("/v1/mcp-servers")).json()["items"] == []


async def test_an_undefined_answer_is_a_deny(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory
) -> None:
    root = _copy(tmp_path, '{"allow": true, "visible": true, "reasons": []}')
    path = root / "gateway" / "authz" / "decision.rego"
    # Undefined for creates: the rule's condition never holds.
    path.write_text(
        path.read_text().replace(
            'if input.action == "mcp_server.create"\n', 'if input.action == "never"\n', 1
        )
    )
    alice = await _alice_on(start_gateway, opa_server(root).url)
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 404


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """The one failure real OPA cannot produce: a 200 whose body is not JSON (a proxy in
    front of OPA gone wrong). A plain socket that answers so, and nothing else."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                body = b"<html>this is not json</html>"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join()
    listener.close()


async def test_a_body_that_is_not_json_is_a_503(
    garbage_server: str, start_gateway: AppFactory
) -> None:
    alice = await _alice_on(start_gateway, garbage_server)
    response = await alice.get("/v1/mcp-servers")
    assert response.status_code == 503, response.text
    assert "not JSON" in response.json()["detail"]


async def test_a_changed_directory_is_served_within_five_seconds(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory
) -> None:
    """Hot reload holds in OPA mode: OPA watches the directory, the gateway follows OPA's
    revision (so no view cached under the old policy is served)."""
    root = _copy(tmp_path)
    opa = opa_server(root)
    alice = await _alice_on(start_gateway, opa.url)
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 201
    before = (await alice.get("/readyz")).json()["policy"]["revision"]
    (root / "gateway" / "no_uvx.rego").write_text(
        "package gateway.authz\n\n"
        'deny contains {"code": "no_uvx", "message": "no uvx"} if {\n'
        '\tinput.proposed.command == "uvx"\n}\n'
    )
    started = time.monotonic()
    while (await alice.post("/v1/mcp-servers", json=SERVER)).status_code != 403:
        assert time.monotonic() - started < 5, "not in force within 5 s"
        await asyncio.sleep(0.1)
    while (await alice.get("/readyz")).json()["policy"]["revision"] == before:
        assert time.monotonic() - started < 5, "revision not followed within 5 s"
        await asyncio.sleep(0.1)


async def test_policy_push_serves_a_directory_to_an_empty_opa(
    tmp_path: Path, opa_server: type[OPAServer], start_gateway: AppFactory
) -> None:
    """For setups without a shared volume: OPA starts with nothing; `gateway policy push`
    uploads the directory; pushing again after a module is removed removes it there too."""
    empty = tmp_path / "empty"
    empty.mkdir()
    opa = opa_server(empty, bundle=False)
    alice = await _alice_on(start_gateway, opa.url)
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 404  # undefined
    root = _copy(tmp_path)
    (root / "gateway" / "no_uvx.rego").write_text(
        'package gateway.authz\n\ndeny contains {"code": "no_uvx", "message": "no uvx"} if {\n'
        '\tinput.proposed.command == "uvx"\n}\n'
    )
    await push(root, opa.url)  # what `gateway policy push --opa-url … DIR` runs
    denied = await alice.post("/v1/mcp-servers", json=SERVER)
    assert denied.status_code == 403 and denied.json()["reasons"][0]["code"] == "no_uvx"
    (root / "gateway" / "no_uvx.rego").unlink()
    await push(root, opa.url)
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 201


def test_policy_push_refuses_what_the_gateway_would_refuse(
    tmp_path: Path, opa_server: type[OPAServer], capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    opa = opa_server(empty, bundle=False)
    root = _copy(tmp_path)
    (root / "gateway" / "broken.rego").write_text("package gateway.authz\n\ndeny contains {\n")
    assert main(["policy", "push", "--opa-url", opa.url, str(root)]) == 1
    assert "broken.rego:3" in capsys.readouterr().err
