"""One contract for every SecretStore, plus what only a real Vault/OpenBao can show.

The contract runs against the memory store and against a real OpenBao dev server, so the
embedded default cannot drift from production semantics. Ids are unique per test because
the dev server is shared by the whole session.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import msgspec
import pytest

from gateway.errors import BackendUnavailable, InvalidInput
from gateway.secrets.base import SecretOwner, SecretStore, SecretValue, secret_path, server_prefix
from gateway.secrets.memory import MemorySecretStore
from gateway.secrets.vault import VaultSecretStore
from tests.fixtures.openbao import OpenBaoServer, free_port, run_openbao, vault_settings

KV_POLICY = 'path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }'


def _hex() -> str:
    return secrets.token_hex(5)


def personal(user: str | None = None, server: str | None = None) -> SecretOwner:
    return SecretOwner.personal(user or f"user-{_hex()}@example.com", server or f"mcp_{_hex()}")


def enterprise(ent: str | None = None, server: str | None = None) -> SecretOwner:
    return SecretOwner.enterprise(ent or f"ent_{_hex()}", server or f"emcp_{_hex()}")


def secret() -> str:
    """A recognisable value, so leaks can be searched for."""
    return f"s3cr3t-{secrets.token_hex(8)}"


@pytest.fixture(params=["memory", pytest.param("vault", marks=pytest.mark.vault)])
def store(request: pytest.FixtureRequest) -> SecretStore:
    if request.param == "memory":
        return MemorySecretStore()
    vault: VaultSecretStore = request.getfixturevalue("vault_secrets")
    return vault


# -- the contract -----------------------------------------------------------------------


async def test_is_a_secret_store(store: SecretStore) -> None:
    assert isinstance(store, SecretStore)
    await store.check()


async def test_put_get_list(store: SecretStore) -> None:
    owner = personal()
    a, b = secret(), secret()
    await store.put_many(owner, {"API_KEY": a, "OTHER_TOKEN": b})
    assert await store.get_many(owner, ["API_KEY", "OTHER_TOKEN", "MISSING"]) == {
        "API_KEY": a,
        "OTHER_TOKEN": b,
    }
    assert await store.get_many(owner, []) == {}
    assert await store.list_names(owner) == ["API_KEY", "OTHER_TOKEN"]


async def test_put_replaces_one_and_keeps_the_others(store: SecretStore) -> None:
    owner = personal()
    first, second, other = secret(), secret(), secret()
    await store.put_many(owner, {"API_KEY": first, "OTHER": other})
    await store.put_many(owner, {"API_KEY": second})
    assert await store.get_many(owner, ["API_KEY", "OTHER"]) == {"API_KEY": second, "OTHER": other}
    assert await store.list_names(owner) == ["API_KEY", "OTHER"]


async def test_delete_one(store: SecretStore) -> None:
    owner = personal()
    await store.put_many(owner, {"API_KEY": secret(), "KEEP": "kept"})
    await store.delete(owner, "API_KEY")
    assert await store.get_many(owner, ["API_KEY", "KEEP"]) == {"KEEP": "kept"}
    assert await store.list_names(owner) == ["KEEP"]
    await store.delete(owner, "API_KEY")  # already gone: not an error
    await store.delete(owner, "NEVER_SET")


async def test_delete_all(store: SecretStore) -> None:
    owner = personal()
    await store.put_many(owner, {"A": secret(), "B": secret(), "C_1": secret()})
    await store.delete_all(owner)
    assert await store.list_names(owner) == []
    assert await store.get_many(owner, ["A", "B", "C_1"]) == {}
    await store.delete_all(owner)  # nothing left: not an error


async def test_owners_and_namespaces_are_isolated(store: SecretStore) -> None:
    server = f"mcp_{_hex()}"
    tag = _hex()
    alice = personal(f"alice-{tag}", server)
    bob = personal(f"bob-{tag}", server)
    alice_other_server = personal(f"alice-{tag}", f"mcp_{_hex()}")
    # A user whose id looks like an enterprise id must not meet that enterprise's secrets.
    lookalike = personal(f"ent_{tag}", server)
    ent = enterprise(f"ent_{tag}", server)
    owners = [alice, bob, alice_other_server, lookalike, ent]
    values = {o: secret() for o in owners}
    for owner, value in values.items():
        await store.put_many(owner, {"API_KEY": value})
    for owner, value in values.items():
        assert await store.get_many(owner, ["API_KEY"]) == {"API_KEY": value}
        assert await store.list_names(owner) == ["API_KEY"]

    await store.delete_all(alice)
    await store.delete(ent, "API_KEY")
    assert await store.get_many(alice, ["API_KEY"]) == {}
    assert await store.get_many(ent, ["API_KEY"]) == {}
    for owner in (bob, alice_other_server, lookalike):
        assert await store.get_many(owner, ["API_KEY"]) == {"API_KEY": values[owner]}


@pytest.mark.parametrize(
    ("kind", "owner_id", "server_id", "named"),
    [
        ("personal", "../x", "mcp_abc", "user id"),
        ("personal", "a/b", "mcp_abc", "user id"),
        ("personal", "..", "mcp_abc", "user id"),
        ("personal", ".", "mcp_abc", "user id"),
        ("personal", "enterprise", "mcp_abc", "user id"),
        ("personal", "", "mcp_abc", "user id"),
        ("personal", "x" * 257, "mcp_abc", "user id"),
        ("personal", "alice", "../x", "server id"),
        ("personal", "alice", "mcp_a/b", "server id"),
        ("personal", "alice", "srv_abc", "server id"),
        ("enterprise", "../x", "emcp_abc", "enterprise id"),
        ("enterprise", "acme", "emcp_abc", "enterprise id"),
        ("enterprise", "ent_a/b", "emcp_abc", "enterprise id"),
        ("team", "alice", "mcp_abc", "kind"),
    ],
)
def test_owner_segments_are_validated(kind: str, owner_id: str, server_id: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        SecretOwner(kind=kind, owner_id=owner_id, server_id=server_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("env_var", ["../x", "a/b", "api_key", "Api_Key", "", "1ABC", "A" * 129])
async def test_env_var_names_are_validated(store: SecretStore, env_var: str) -> None:
    owner = personal()
    value = secret()
    with pytest.raises(InvalidInput, match="env var name") as raised:
        await store.put_many(owner, {"GOOD": value, env_var: value})
    assert value not in str(raised.value)
    assert await store.list_names(owner) == []  # nothing was written
    with pytest.raises(InvalidInput, match="env var name"):
        await store.get_many(owner, ["GOOD", env_var])
    with pytest.raises(InvalidInput, match="env var name"):
        await store.delete(owner, env_var)
    with pytest.raises(InvalidInput):
        secret_path(owner, env_var)


async def test_tampered_owner_is_still_rejected(store: SecretStore) -> None:
    """Validation also runs at path-building time, not only when the struct is built."""
    owner = personal()
    msgspec.structs.force_setattr(owner, "owner_id", "../x")
    with pytest.raises(InvalidInput, match="user id"):
        await store.put_many(owner, {"API_KEY": secret()})
    with pytest.raises(InvalidInput, match="user id"):
        await store.delete_all(owner)
    with pytest.raises(InvalidInput, match="user id"):
        await store.list_names(owner)


async def test_non_string_value_is_rejected_without_echoing_it(store: SecretStore) -> None:
    with pytest.raises(InvalidInput, match="API_KEY") as raised:
        await store.put_many(personal(), {"API_KEY": 123456789})  # type: ignore[dict-item]
    assert "123456789" not in str(raised.value)


def test_paths_are_exactly_the_storage_contract() -> None:
    alice = SecretOwner.personal("alice", "mcp_abc")
    acme = SecretOwner.enterprise("ent_acme", "emcp_abc")
    assert secret_path(alice, "API_KEY") == "mcp-servers/alice/mcp_abc/API_KEY"
    assert server_prefix(alice) == "mcp-servers/alice/mcp_abc/"
    assert acme.secret_path("API_KEY") == "mcp-servers/enterprise/ent_acme/emcp_abc/API_KEY"
    assert acme.server_prefix() == "mcp-servers/enterprise/ent_acme/emcp_abc/"
    odd = SecretOwner.personal("auth0|a.b+c@x:y-z", "mcp_1")
    assert odd.secret_path("_X1") == "mcp-servers/auth0|a.b+c@x:y-z/mcp_1/_X1"


def test_secret_value_never_prints() -> None:
    held = SecretValue("hunter2")
    assert repr(held) == str(held) == f"{held}" == "***"
    assert "hunter2" not in repr([held, {"k": held}])
    assert held.reveal() == "hunter2"


# -- Vault / OpenBao only ------------------------------------------------------------------

vault = pytest.mark.vault


def kv(server: OpenBaoServer) -> Any:
    return server.client().secrets.kv.v2


@vault
async def test_vault_exact_paths_and_value_key(
    openbao: OpenBaoServer, vault_secrets: VaultSecretStore
) -> None:
    alice = SecretOwner.personal("alice", "mcp_abc")
    acme = SecretOwner.enterprise("ent_acme", "emcp_abc")
    for owner in (alice, acme):
        await vault_secrets.delete_all(owner)
    mine, theirs = secret(), secret()
    await vault_secrets.put_many(alice, {"API_KEY": mine})
    await vault_secrets.put_many(acme, {"API_KEY": theirs})

    raw = kv(openbao)
    alice_secret = raw.read_secret_version(
        path="mcp-servers/alice/mcp_abc/API_KEY",
        mount_point="secret",
        raise_on_deleted_version=True,
    )
    assert alice_secret["data"]["data"] == {"value": mine}
    acme_secret = raw.read_secret_version(
        path="mcp-servers/enterprise/ent_acme/emcp_abc/API_KEY",
        mount_point="secret",
        raise_on_deleted_version=True,
    )
    assert acme_secret["data"]["data"] == {"value": theirs}

    # And the other way round: what another writer stores by the contract is read back.
    written = secret()
    raw.create_or_update_secret(
        path="mcp-servers/alice/mcp_abc/WRITTEN_RAW",
        secret={"value": written},
        mount_point="secret",
    )
    assert await vault_secrets.get_many(alice, ["WRITTEN_RAW"]) == {"WRITTEN_RAW": written}
    assert await vault_secrets.list_names(alice) == ["API_KEY", "WRITTEN_RAW"]
    for owner in (alice, acme):
        await vault_secrets.delete_all(owner)


@vault
async def test_vault_delete_removes_every_version(
    openbao: OpenBaoServer, vault_secrets: VaultSecretStore
) -> None:
    owner = personal()
    raw = kv(openbao)
    for _ in range(3):
        await vault_secrets.put_many(owner, {"API_KEY": secret(), "OTHER": secret()})
    path = secret_path(owner, "API_KEY")
    assert raw.read_secret_metadata(path=path, mount_point="secret")["data"]["current_version"] == 3

    await vault_secrets.delete(owner, "API_KEY")
    with pytest.raises(hvac.exceptions.InvalidPath):
        raw.read_secret_metadata(path=path, mount_point="secret")
    await vault_secrets.delete_all(owner)
    with pytest.raises(hvac.exceptions.InvalidPath):
        raw.read_secret_metadata(path=secret_path(owner, "OTHER"), mount_point="secret")


@vault
async def test_vault_soft_deleted_secret_counts_as_absent(
    openbao: OpenBaoServer, vault_secrets: VaultSecretStore
) -> None:
    owner = personal()
    await vault_secrets.put_many(owner, {"API_KEY": secret(), "KEEP": "kept"})
    kv(openbao).delete_latest_version_of_secret(
        path=secret_path(owner, "API_KEY"), mount_point="secret"
    )
    assert await vault_secrets.list_names(owner) == ["KEEP"]
    assert await vault_secrets.get_many(owner, ["API_KEY", "KEEP"]) == {"KEEP": "kept"}
    await vault_secrets.delete_all(owner)
    assert await vault_secrets.list_names(owner) == []


@vault
async def test_vault_delete_all_reaches_nested_folders(
    openbao: OpenBaoServer, vault_secrets: VaultSecretStore
) -> None:
    owner = personal()
    await vault_secrets.put_many(owner, {"API_KEY": secret()})
    nested = server_prefix(owner) + "legacy/OLD"
    kv(openbao).create_or_update_secret(path=nested, secret={"value": "x"}, mount_point="secret")
    assert await vault_secrets.list_names(owner) == ["API_KEY"]  # folders are not names
    await vault_secrets.delete_all(owner)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv(openbao).read_secret_metadata(path=nested, mount_point="secret")


def approle_credentials(server: OpenBaoServer, **role: Any) -> tuple[str, str]:
    """Enable AppRole (once), and make a role whose tokens may use `secret/*`."""
    root = server.client()
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy("gateway-kv", KV_POLICY)
    name = f"gateway-{_hex()}"
    root.auth.approle.create_or_update_approle(name, token_policies=["gateway-kv"], **role)
    role_id = root.auth.approle.read_role_id(name)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(name)["data"]["secret_id"]
    return role_id, secret_id


@vault
async def test_vault_approle_login(openbao: OpenBaoServer) -> None:
    role_id, secret_id = approle_credentials(openbao, token_ttl="1h")
    settings = vault_settings(
        openbao, vault_token=None, vault_role_id=role_id, vault_secret_id=secret_id
    )
    store = VaultSecretStore.from_settings(settings)
    try:
        await store.check()
        owner = personal()
        value = secret()
        await store.put_many(owner, {"API_KEY": value})
        assert await store.get_many(owner, ["API_KEY"]) == {"API_KEY": value}
        await store.delete_all(owner)
        assert store.logins == 1
        assert secret_id not in repr(store)
    finally:
        await store.aclose()


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll a counter kept by the store under test (it offers no event to wait on)."""
    for _ in range(120):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not happen within 6 s")


@vault
@pytest.mark.parametrize(
    "role",
    [
        pytest.param({"token_type": "batch", "token_ttl": "10s"}, id="non-renewable"),
        pytest.param({"token_ttl": "10s", "token_max_ttl": "10s"}, id="at-max-ttl"),
    ],
)
async def test_vault_approle_logs_in_again_when_renewal_cannot_help(
    openbao: OpenBaoServer, role: dict[str, Any]
) -> None:
    role_id, secret_id = approle_credentials(openbao, **role)
    store = VaultSecretStore(openbao.addr, role_id=role_id, secret_id=secret_id, renew_fraction=0.1)
    try:
        await store.start()
        first_token = store._client.token
        await wait_for(lambda: store.logins >= 2, "a second AppRole login")
        assert store._client.token != first_token
        owner = personal()
        await store.put_many(owner, {"API_KEY": "v"})
        assert await store.get_many(owner, ["API_KEY"]) == {"API_KEY": "v"}
        await store.delete_all(owner)
    finally:
        await store.aclose()


def _expiry(lookup: dict[str, Any]) -> datetime:
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", lookup["data"]["expire_time"])
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@vault
async def test_vault_token_is_renewed_before_expiry(openbao: OpenBaoServer) -> None:
    root = openbao.client()
    root.sys.create_or_update_policy("gateway-kv", KV_POLICY)
    child = root.auth.token.create(policies=["gateway-kv"], ttl="10s", period="10s")
    token = child["auth"]["client_token"]
    before = _expiry(root.auth.token.lookup(token))
    store = VaultSecretStore(openbao.addr, token=token, renew_fraction=0.15)  # at ~1.5 s
    try:
        await store.check()
        await wait_for(lambda: store.renewals >= 1, "a token renewal")
        after = root.auth.token.lookup(token)
        assert after["data"]["ttl"] >= 9
        assert (_expiry(after) - before).total_seconds() >= 1.0
        await store.check()
    finally:
        await store.aclose()
    assert not store.token.renewing


@vault
async def test_root_token_needs_no_renewal(vault_secrets: VaultSecretStore) -> None:
    await vault_secrets.check()
    assert not vault_secrets.token.renewing


@vault
async def test_vault_permission_denied_is_unavailable(openbao: OpenBaoServer) -> None:
    weak = openbao.client().auth.token.create(policies=["default"], ttl="1h")
    store = VaultSecretStore(openbao.addr, token=weak["auth"]["client_token"])
    value = secret()
    try:
        with pytest.raises(BackendUnavailable, match="permission denied") as raised:
            await store.put_many(personal(), {"API_KEY": value})
        assert value not in str(raised.value)
        with pytest.raises(BackendUnavailable, match="permission denied"):
            await store.check()
    finally:
        await store.aclose()


@vault
async def test_vault_wrong_mount_is_unavailable_not_empty(openbao: OpenBaoServer) -> None:
    store = VaultSecretStore.from_settings(vault_settings(openbao, vault_mount="no-such-kv"))
    try:
        with pytest.raises(BackendUnavailable, match="path not served"):
            await store.check()
        with pytest.raises(BackendUnavailable, match="path not served"):
            await store.get_many(personal(), ["API_KEY"])
    finally:
        await store.aclose()


def closed_port_store() -> VaultSecretStore:
    return VaultSecretStore(f"http://127.0.0.1:{free_port()}", token="not-used", timeout=2)


async def test_unreachable_vault_is_unavailable() -> None:
    store = closed_port_store()
    value = secret()
    try:
        with pytest.raises(BackendUnavailable, match="vault unavailable: connection failed"):
            await store.check()
        with pytest.raises(BackendUnavailable, match="vault unavailable") as raised:
            await store.put_many(personal(), {"API_KEY": value})
        assert value not in str(raised.value)
    finally:
        await store.aclose()
    with pytest.raises(BackendUnavailable, match="store closed"):
        await store.check()


@pytest.fixture
def private_openbao(tmp_path: Path) -> Iterator[OpenBaoServer]:
    """A dev server of its own, for tests that break it (seal)."""
    with run_openbao(tmp_path) as server:
        yield server


@vault
async def test_sealed_vault_is_unavailable(private_openbao: OpenBaoServer) -> None:
    store = VaultSecretStore.from_settings(vault_settings(private_openbao))
    owner = personal()
    value = secret()
    try:
        await store.put_many(owner, {"API_KEY": value})
        private_openbao.client().sys.seal()
        calls: list[Callable[[], Awaitable[object]]] = [
            store.check,
            lambda: store.put_many(owner, {"API_KEY": value}),
            lambda: store.get_many(owner, ["API_KEY"]),
            lambda: store.list_names(owner),
            lambda: store.delete_all(owner),
        ]
        for call in calls:
            with pytest.raises(BackendUnavailable, match="sealed") as raised:
                await call()
            assert value not in str(raised.value)
    finally:
        await store.aclose()


@vault
async def test_no_secret_reaches_reprs_logs_or_errors(
    openbao: OpenBaoServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)  # root: urllib3, hvac, asyncio and ours
    role_id, secret_id = approle_credentials(openbao, token_ttl="10s", token_max_ttl="10s")
    values = [secret() for _ in range(4)]
    owner = personal()
    ent = enterprise()
    errors: list[BaseException] = []

    async def expect_failure(call: Awaitable[object]) -> None:
        try:
            await call
        except (BackendUnavailable, InvalidInput) as exc:
            errors.append(exc)
        else:
            raise AssertionError("expected a failure")

    memory = MemorySecretStore()
    approle = VaultSecretStore(
        openbao.addr, role_id=role_id, secret_id=secret_id, renew_fraction=0.1
    )
    unreachable = closed_port_store()
    stores: list[SecretStore] = [memory, approle]
    try:
        for store in stores:
            await store.put_many(owner, {"API_KEY": values[0], "OTHER": values[1]})
            await store.put_many(ent, {"API_KEY": values[2]})
            await store.get_many(owner, ["API_KEY", "OTHER"])
            await store.list_names(owner)
            await store.delete(owner, "API_KEY")
            await expect_failure(store.put_many(owner, {"bad/name": values[3]}))
            await expect_failure(store.put_many(owner, {"API_KEY": 1}))  # type: ignore[dict-item]
        # Let a re-login (AppRole secret_id and a new token on the wire) pass the logs too.
        await wait_for(lambda: approle.logins >= 2, "a second AppRole login")
        await expect_failure(unreachable.put_many(owner, {"API_KEY": values[3]}))
        await expect_failure(unreachable.get_many(owner, ["API_KEY"]))
        with run_openbao(tmp_path) as doomed:
            sealed = VaultSecretStore(doomed.addr, token=doomed.token)
            try:
                await sealed.put_many(owner, {"API_KEY": values[3]})
                doomed.client().sys.seal()
                await expect_failure(sealed.put_many(owner, {"API_KEY": values[3]}))
                await expect_failure(sealed.get_many(owner, ["API_KEY"]))
            finally:
                await sealed.aclose()
        shown = [repr(x) for x in [*stores, unreachable, owner, ent, SecretValue(values[0])]]
        for store in stores:
            await store.delete_all(owner)
            await store.delete_all(ent)
    finally:
        await approle.aclose()
        await unreachable.aclose()

    for exc in errors:
        chain: BaseException | None = exc
        while chain is not None:  # the hvac/requests causes too
            shown += [str(chain), repr(chain)]
            chain = chain.__cause__ or chain.__context__
    texts = [caplog.text, *shown, *(r.getMessage() for r in caplog.records)]
    assert len(errors) == 8
    assert any("vault" in r.name or "urllib3" in r.name for r in caplog.records)
    for leaked in [*values, secret_id, openbao.token]:
        for text in texts:
            assert leaked not in text
