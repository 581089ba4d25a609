"""Credentials over HTTP against a real OpenBao dev server and a throwaway Redis: set,
replace, delete, launch, delete-server-deletes-secrets, for personal and enterprise servers,
read back with hvac at the exact ADR paths; no secret in any log or response; BOLA."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import hvac
import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.config import Settings
from tests.fixtures.gateway import JWT_SECRET, AppFactory, Caller, caller, decision_records, join
from tests.fixtures.openbao import OpenBaoServer, run_openbao

pytestmark = [pytest.mark.vault, pytest.mark.redis]

SERVER = {
    "name": "github",
    "transport": "stdio",
    "command": "docker",
    "args": ["run", "-i", "--rm", "ghcr.io/github/github-mcp-server"],
    "env": ["GITHUB_PERSONAL_ACCESS_TOKEN", "GITHUB_HOST"],
}
SECRET_A = "ghp_s3cretValueNumberOne_7c1f"
SECRET_B = "ghp_s3cretValueNumberTwo_99ab"
SECRET_E = "sk_live_enterpriseSecret_4242"


def _read(vault: hvac.Client, path: str) -> str | None:
    try:
        found = vault.secrets.kv.v2.read_secret_version(
            path=path, mount_point="secret", raise_on_deleted_version=True
        )
    except hvac.exceptions.InvalidPath:
        return None
    value: str = found["data"]["data"]["value"]
    return value


@pytest_asyncio.fixture
async def settings(openbao: OpenBaoServer, redis_url: str) -> Settings:
    client = aredis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    return Settings(
        jwt_secret=JWT_SECRET,
        redis_url=redis_url,
        vault_addr=openbao.addr,
        vault_token=openbao.token,
    )


@pytest_asyncio.fixture
async def app(settings: Settings, start_gateway: AppFactory) -> AsyncTestClient[Litestar]:
    return await start_gateway(settings)


def _as(app: AsyncTestClient[Litestar], user: str) -> Caller:
    return caller(app, user)


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


@pytest.fixture
def all_logs() -> AsyncIterator[_Everything] | _Everything:
    handler = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


async def test_personal_credentials_lifecycle(
    app: AsyncTestClient[Litestar], openbao: OpenBaoServer, all_logs: _Everything
) -> None:
    alice = _as(app, "alice")
    vault = openbao.client()
    bodies: list[str] = []

    created = await alice.post("/v1/mcp-servers", json=SERVER)
    server_id = created.json()["id"]
    base = f"/v1/mcp-servers/{server_id}"
    path = f"mcp-servers/alice/{server_id}/GITHUB_PERSONAL_ACCESS_TOKEN"

    put = await alice.put(
        f"{base}/credentials", json={"values": {"GITHUB_PERSONAL_ACCESS_TOKEN": SECRET_A}}
    )
    bodies.append(put.text)
    assert put.status_code == 200, put.text
    assert put.json()["credentials_set"] == ["GITHUB_PERSONAL_ACCESS_TOKEN"]
    assert _read(vault, path) == SECRET_A

    replaced = await alice.put(
        f"{base}/credentials",
        json={
            "values": {
                "GITHUB_PERSONAL_ACCESS_TOKEN": SECRET_B,
                "GITHUB_HOST": "github.example.com",
            }
        },
    )
    bodies.append(replaced.text)
    assert replaced.json()["credentials_set"] == ["GITHUB_HOST", "GITHUB_PERSONAL_ACCESS_TOKEN"]
    assert _read(vault, path) == SECRET_B
    got = await alice.get(base)
    bodies.append(got.text)
    assert got.json()["credentials_set"] == ["GITHUB_HOST", "GITHUB_PERSONAL_ACCESS_TOKEN"]
    listed = await alice.get("/v1/mcp-servers")
    bodies.append(listed.text)

    launch = await alice.get(f"{base}/launch")
    assert launch.status_code == 200, launch.text
    assert launch.headers["cache-control"] == "no-store"
    config = launch.json()
    assert config["env"] == {
        "GITHUB_PERSONAL_ACCESS_TOKEN": SECRET_B,
        "GITHUB_HOST": "github.example.com",
    }
    assert config["command"] == "docker" and config["missing_env"] == []

    deleted = await alice.delete(f"{base}/credentials/GITHUB_PERSONAL_ACCESS_TOKEN")
    assert deleted.status_code == 204
    assert _read(vault, path) is None
    with pytest.raises(hvac.exceptions.InvalidPath):  # all versions gone, not soft-deleted
        vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")
    after = (await alice.get(base)).json()
    assert after["credentials_set"] == ["GITHUB_HOST"]
    assert (await alice.get(f"{base}/launch")).json()["missing_env"] == [
        "GITHUB_PERSONAL_ACCESS_TOKEN"
    ]

    # Deleting the server deletes its secrets.
    assert (await alice.delete(base)).status_code == 204
    assert _read(vault, f"mcp-servers/alice/{server_id}/GITHUB_HOST") is None
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault.secrets.kv.v2.list_secrets(
            path=f"mcp-servers/alice/{server_id}", mount_point="secret"
        )

    assert any("mcp-servers" in line for line in all_logs.lines)  # the capture is not empty
    decision_log = msgspec.json.encode(await decision_records(app)).decode()
    assert "mcp_server.credentials.set" in decision_log  # the log did record those decisions
    for secret in (SECRET_A, SECRET_B):
        assert not any(secret in line for line in all_logs.lines), "a secret reached a log"
        assert not any(secret in body for body in bodies), "a secret reached a response"
        assert secret not in decision_log, "a secret reached the decision log"


async def test_enterprise_credentials_and_launch(
    app: AsyncTestClient[Litestar], openbao: OpenBaoServer, all_logs: _Everything
) -> None:
    alice, bob, dave = _as(app, "alice"), _as(app, "bob"), _as(app, "dave")
    vault = openbao.client()
    ent_id = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(alice, bob, ent_id, "member")
    server = await alice.post("/v1/enterprise/mcp-servers", json={**SERVER, "auto_enabled": True})
    server_id = server.json()["id"]
    url = f"/v1/enterprise/mcp-servers/{server_id}"

    put = await alice.put(
        f"{url}/credentials", json={"values": {"GITHUB_PERSONAL_ACCESS_TOKEN": SECRET_E}}
    )
    assert put.status_code == 200, put.text
    assert SECRET_E not in put.text
    assert put.json()["credentials_set"] == ["GITHUB_PERSONAL_ACCESS_TOKEN"]
    path = f"mcp-servers/enterprise/{ent_id}/{server_id}/GITHUB_PERSONAL_ACCESS_TOKEN"
    assert _read(vault, path) == SECRET_E
    replaced = await alice.put(
        f"{url}/credentials", json={"values": {"GITHUB_PERSONAL_ACCESS_TOKEN": SECRET_B}}
    )
    assert replaced.status_code == 200 and SECRET_B not in replaced.text
    assert _read(vault, path) == SECRET_B
    assert (await bob.get(f"/v1/mcp-servers/{server_id}/launch")).json()["env"] == {
        "GITHUB_PERSONAL_ACCESS_TOKEN": SECRET_B
    }
    await alice.put(
        f"{url}/credentials", json={"values": {"GITHUB_PERSONAL_ACCESS_TOKEN": SECRET_E}}
    )

    # A member launches the auto-enabled server with its secret resolved...
    launch = await bob.get(f"/v1/mcp-servers/{server_id}/launch")
    assert launch.status_code == 200
    assert launch.json()["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"] == SECRET_E
    # ... but cannot set its credentials (403), and an outsider cannot launch it (404).
    member_put = await bob.put(f"{url}/credentials", json={"values": {"GITHUB_HOST": "x"}})
    assert member_put.status_code == 403
    assert (await dave.get(f"/v1/mcp-servers/{server_id}/launch")).status_code == 404
    assert (
        await dave.put(f"{url}/credentials", json={"values": {"GITHUB_HOST": "x"}})
    ).status_code == 404
    assert (await bob.delete(f"{url}/credentials/GITHUB_HOST")).status_code == 403
    # Owners and admins remove one secret (all versions).
    await alice.put(f"{url}/credentials", json={"values": {"GITHUB_HOST": "ghe.example"}})
    host_path = f"mcp-servers/enterprise/{ent_id}/{server_id}/GITHUB_HOST"
    assert _read(vault, host_path) == "ghe.example"
    assert (await alice.delete(f"{url}/credentials/GITHUB_HOST")).status_code == 204
    assert _read(vault, host_path) is None
    assert (await alice.get(url)).json()["credentials_set"] == ["GITHUB_PERSONAL_ACCESS_TOKEN"]
    # A plain (not auto-enabled) server is not in the member's view: no launch.
    await alice.patch(url, json={"auto_enabled": False})
    assert (await bob.get(f"/v1/mcp-servers/{server_id}/launch")).status_code == 404

    assert (await alice.delete(url)).status_code == 204
    assert _read(vault, path) is None
    assert not any(SECRET_E in line for line in all_logs.lines)


async def test_bola_other_users_credentials_are_not_found(
    app: AsyncTestClient[Litestar], openbao: OpenBaoServer
) -> None:
    alice, bob = _as(app, "alice"), _as(app, "bob")
    server_id = (await alice.post("/v1/mcp-servers", json=SERVER)).json()["id"]
    base = f"/v1/mcp-servers/{server_id}"
    await alice.put(
        f"{base}/credentials", json={"values": {"GITHUB_PERSONAL_ACCESS_TOKEN": SECRET_A}}
    )
    attempts = [
        bob.put(f"{base}/credentials", json={"values": {"GITHUB_PERSONAL_ACCESS_TOKEN": "x"}}),
        bob.delete(f"{base}/credentials/GITHUB_PERSONAL_ACCESS_TOKEN"),
        bob.get(f"{base}/launch"),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404, response.text
        assert SECRET_A not in response.text
    path = f"mcp-servers/alice/{server_id}/GITHUB_PERSONAL_ACCESS_TOKEN"
    assert _read(openbao.client(), path) == SECRET_A


@pytest.mark.parametrize(
    ("values", "field", "status"),
    [
        # well formed, but not one of this server's names: 422 (docs/api-contract.md)
        ({"NOT_DECLARED": "x"}, "values.NOT_DECLARED", 422),
        ({"lower": "x"}, "values", 400),
        ({"GITHUB_HOST": ""}, "values", 400),
        ({}, "values", 400),
    ],
)
async def test_only_declared_env_vars_are_accepted(
    app: AsyncTestClient[Litestar], values: dict[str, str], field: str, status: int
) -> None:
    alice = _as(app, "alice")
    server_id = (await alice.post("/v1/mcp-servers", json=SERVER)).json()["id"]
    response = await alice.put(f"/v1/mcp-servers/{server_id}/credentials", json={"values": values})
    assert response.status_code == status, response.text
    extra = response.json()["extra"]
    keys = [str(e["key"]) for e in extra]
    assert any(k.startswith(field) for k in keys), extra
    assert (await alice.get(f"/v1/mcp-servers/{server_id}")).json()["credentials_set"] == []


HTTP_SERVER = {
    "name": "remote",
    "transport": "streamable_http",
    "url": "https://mcp.example.com/mcp",
    "headers": {"X-Key": "${KEY}", "Authorization": "Bearer ${TOKEN}"},
    "env": ["KEY", "TOKEN", "PEM"],
}
PEM = "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    "value",
    [
        "sk-live-LEAKME-123\n",  # issue 22: accepted, then quoted by h11 in a WARNING
        "sk-live-LEAKME-123\r",
        "sk-live-LEAKME-123\r\nX-Injected: 1",
        "sk-live-LEAKME-123\t",
        "sk-live-LEAKME-123\x7f",
        "sk-live-LEAKMÉ-123",
        " sk-live-LEAKME-123",
        "sk-live-LEAKME-123 ",
    ],
)
async def test_a_value_a_header_uses_must_be_a_header_value(
    app: AsyncTestClient[Litestar], value: str
) -> None:
    alice = _as(app, "alice")
    server_id = (await alice.post("/v1/mcp-servers", json=HTTP_SERVER)).json()["id"]
    path = f"/v1/mcp-servers/{server_id}/credentials"
    refused = await alice.put(path, json={"values": {"KEY": value, "TOKEN": "tok-ok-1"}})
    assert refused.status_code == 422, refused.text
    assert [e["key"] for e in refused.json()["extra"]] == ["values.KEY"]
    assert "X-Key" in refused.json()["extra"][0]["message"]
    assert "LEAKM" not in refused.text
    assert (await alice.get(f"/v1/mcp-servers/{server_id}")).json()["credentials_set"] == []
    # Inner spaces are a header value's own: taken.
    taken = await alice.put(path, json={"values": {"KEY": "sk live 123"}})
    assert taken.status_code == 200, taken.text


async def test_a_value_only_an_env_var_uses_may_span_lines_but_not_hold_a_nul(
    app: AsyncTestClient[Litestar],
) -> None:
    """A PEM key or a JSON service account has line breaks; no environment carries a NUL."""
    alice = _as(app, "alice")
    for body in (HTTP_SERVER, SERVER):
        server_id = (await alice.post("/v1/mcp-servers", json=body)).json()["id"]
        name = "PEM" if body is HTTP_SERVER else "GITHUB_HOST"
        path = f"/v1/mcp-servers/{server_id}/credentials"
        assert (await alice.put(path, json={"values": {name: PEM}})).status_code == 200
        nul = await alice.put(path, json={"values": {name: "a\x00b"}})
        assert nul.status_code == 400, nul.text
        assert [e["key"] for e in nul.json()["extra"]] == ["values[...]"]  # msgspec's path
    launched = await alice.get(f"/v1/mcp-servers/{server_id}/launch")
    assert launched.json()["env"] == {"GITHUB_HOST": PEM}


async def test_vault_down_is_503_on_credentials_and_the_rest_works(
    tmp_path: Path, redis_url: str, start_gateway: AppFactory
) -> None:
    with run_openbao(tmp_path) as doomed:
        app = await start_gateway(
            Settings(
                jwt_secret=JWT_SECRET,
                redis_url=redis_url,
                vault_addr=doomed.addr,
                vault_token=doomed.token,
            )
        )
        alice = _as(app, "alice")
        server_id = (await alice.post("/v1/mcp-servers", json=SERVER)).json()["id"]
        base = f"/v1/mcp-servers/{server_id}"
        ok = await alice.put(f"{base}/credentials", json={"values": {"GITHUB_HOST": "h"}})
        assert ok.status_code == 200
        doomed.client().sys.seal()
        sealed = await alice.put(f"{base}/credentials", json={"values": {"GITHUB_HOST": "x"}})
        assert sealed.status_code == 503, sealed.text
        assert "vault" in sealed.json()["detail"]
        # A failed write never reports a credential as set that is not stored.
        assert (await alice.get(base)).json()["credentials_set"] == ["GITHUB_HOST"]
    # The server process is gone now: still a clean 503 for credentials...
    down = await alice.get(f"{base}/launch")
    assert down.status_code == 503
    # ... and the rest of the API keeps working.
    assert (await alice.get("/v1/mcp-servers")).status_code == 200
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 201
    ready = await app.get("/readyz")  # degraded, still in the load balancer
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "degraded" and ready.json()["checks"]["secrets"] != "ok"
    # Deleting a server whose secrets cannot be deleted keeps the server (no orphan secret).
    assert (await alice.delete(base)).status_code == 503
    assert (await alice.get(base)).status_code == 200


async def test_a_value_a_failure_left_behind_is_inert(
    app: AsyncTestClient[Litestar], openbao: OpenBaoServer
) -> None:
    """Simulate the crash: a value reached Vault but the record never listed it. It is never
    reported, never launched, is replaced by the next PUT and goes with the server."""
    alice = _as(app, "alice")
    server_id = (await alice.post("/v1/mcp-servers", json=SERVER)).json()["id"]
    base = f"/v1/mcp-servers/{server_id}"
    path = f"mcp-servers/alice/{server_id}/GITHUB_HOST"
    vault = openbao.client()
    vault.secrets.kv.v2.create_or_update_secret(
        path=path, secret={"value": "left-behind"}, mount_point="secret"
    )
    assert (await alice.get(base)).json()["credentials_set"] == []
    launch = (await alice.get(f"{base}/launch")).json()
    assert launch["env"] == {} and launch["missing_env"] == SERVER["env"]
    await alice.put(f"{base}/credentials", json={"values": {"GITHUB_HOST": "fresh"}})
    assert (await alice.get(f"{base}/launch")).json()["env"] == {"GITHUB_HOST": "fresh"}
    assert (await alice.delete(base)).status_code == 204
    assert _read(vault, path) is None
