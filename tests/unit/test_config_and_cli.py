"""Settings come from the environment (a TOML file may add to them; env wins), and a bad
setting is a startup error naming the variable."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from gateway.auth.tokens import TokenVerifier
from gateway.cli import main
from gateway.config import ConfigError, load_settings

SECRET = "a-development-secret-of-32-bytes-or-more"


def test_embedded_defaults() -> None:
    settings = load_settings({"GATEWAY_JWT_SECRET": SECRET})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.redis_url is None and settings.vault_addr is None
    assert settings.opa_url is None and settings.auth_enabled


def test_auth_without_a_key_source_is_a_startup_error() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_JWT_SECRET"):
        load_settings({})


def test_local_dev_mode_needs_no_key() -> None:
    assert load_settings({"GATEWAY_AUTH_ENABLED": "false"}).auth_enabled is False


def test_alg_none_is_refused() -> None:
    with pytest.raises(ConfigError, match="none"):
        load_settings({"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_JWT_ALGORITHMS": "HS256,none"})


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
        ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT"),
        ({"GATEWAY_AUTH_ENABLED": "maybe"}, "GATEWAY_AUTH_ENABLED"),
        ({"GATEWAY_POLICY_DIR": "/nonexistent"}, "GATEWAY_POLICY_DIR"),
        ({"GATEWAY_REDIS_CLUSTER": "true"}, "GATEWAY_REDIS_URL"),
        ({"GATEWAY_REDIS_MAX_CONNECTIONS": "0"}, "GATEWAY_REDIS_MAX_CONNECTIONS"),
        ({"GATEWAY_REDIS_POOL_TIMEOUT_SECONDS": "0"}, "GATEWAY_REDIS_POOL_TIMEOUT_SECONDS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"GATEWAY_JWT_SECRET": SECRET, **env})


def test_toml_adds_and_env_wins(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('port = 9090\nredis_url = "redis://127.0.0.1:6390/0"\n')
    settings = load_settings(
        {"GATEWAY_CONFIG_FILE": str(config), "GATEWAY_JWT_SECRET": SECRET, "GATEWAY_PORT": "9191"}
    )
    assert settings.port == 9191 and settings.redis_url == "redis://127.0.0.1:6390/0"


def test_unknown_toml_keys_are_an_error(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("prot = 9090\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings({"GATEWAY_CONFIG_FILE": str(config), "GATEWAY_JWT_SECRET": SECRET})


def test_standard_vault_variables_are_honoured() -> None:
    settings = load_settings(
        {"GATEWAY_JWT_SECRET": SECRET, "VAULT_ADDR": "http://v:8200", "VAULT_TOKEN": "t"}
    )
    assert (settings.vault_addr, settings.vault_token) == ("http://v:8200", "t")
    mine = load_settings(
        {
            "GATEWAY_JWT_SECRET": SECRET,
            "VAULT_ADDR": "http://v:8200",
            "GATEWAY_VAULT_ADDR": "http://mine:8200",
        }
    )
    assert mine.vault_addr == "http://mine:8200"


def test_repr_hides_secrets() -> None:
    settings = load_settings({"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_VAULT_TOKEN": "hvs.x"})
    assert SECRET not in repr(settings) and "hvs.x" not in repr(settings)


def test_token_command_mints_a_verifiable_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_JWT_SECRET", SECRET)
    assert (
        main(["token", "--sub", "alice", "--email", "alice@example.com", "--role", "auditor"]) == 0
    )
    claims = jwt.decode(
        capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"], options={"verify_aud": False}
    )
    assert claims["sub"] == "alice" and claims["roles"] == ["auditor"] and claims["exp"]
    # Good on /mcp: it names the MCP resource's canonical URI (RFC 8707).
    assert claims["aud"] == ["http://127.0.0.1:8080/mcp"]


def test_token_command_without_a_secret_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    monkeypatch.setenv("GATEWAY_AUTH_ENABLED", "false")
    assert main(["token", "--sub", "alice", "--email", "a@example.com"]) == 2
    assert "GATEWAY_JWT_SECRET" in capsys.readouterr().err


def test_private_upstream_ranges_are_parsed_at_startup() -> None:
    env = {
        "GATEWAY_JWT_SECRET": SECRET,
        "GATEWAY_PRIVATE_UPSTREAM_CIDRS": " 10.20.0.0/16, fd00:1::/64 ,",
    }
    settings = load_settings(env)
    assert settings.private_upstream_cidrs == ("10.20.0.0/16", "fd00:1::/64")
    reach = settings.upstream_reach()
    assert [str(n) for n in reach.networks] == ["10.20.0.0/16", "fd00:1::/64"]
    assert reach.everything is False
    assert load_settings({"GATEWAY_JWT_SECRET": SECRET}).upstream_reach().networks == ()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"GATEWAY_PRIVATE_UPSTREAM_CIDRS": "10.20.0.0/16,0.0.0.0/0"}, "'0.0.0.0/0'"),
        ({"GATEWAY_PRIVATE_UPSTREAM_CIDRS": "10.20.0.0/166"}, "'10.20.0.0/166'"),
        (
            {
                "GATEWAY_PRIVATE_UPSTREAM_CIDRS": "10.20.0.0/16",
                "GATEWAY_ALLOW_PRIVATE_UPSTREAMS": "true",
            },
            "set one of them",
        ),
    ],
)
def test_a_bad_private_upstream_range_is_a_startup_error(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_PRIVATE_UPSTREAM_CIDRS") as caught:
        load_settings({"GATEWAY_JWT_SECRET": SECRET, **env})
    assert says in str(caught.value)


@pytest.mark.parametrize("ttl", ["604800", "86401", "0", "-5"])
def test_token_command_refuses_a_lifetime_the_gateway_would_refuse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ttl: str
) -> None:
    """Issue 22: `--ttl 604800` minted a token every request then refused ("token lifetime
    exceeds 86400 s"); an expired one (0, negative) is refused too."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", SECRET)
    monkeypatch.delenv("GATEWAY_JWT_MAX_LIFETIME_SECONDS", raising=False)
    assert main(["token", "--sub", "alice", "--email", "a@example.com", "--ttl", ttl]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no token printed
    assert f"--ttl {ttl}" in err and "GATEWAY_JWT_MAX_LIFETIME_SECONDS" in err and "86400" in err


async def test_token_command_reads_the_gateways_longest_lifetime(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the setting raised, the same token is minted, and the gateway accepts it."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", SECRET)
    monkeypatch.setenv("GATEWAY_JWT_MAX_LIFETIME_SECONDS", "604800")
    assert main(["token", "--sub", "alice", "--email", "a@example.com", "--ttl", "604800"]) == 0
    token = capsys.readouterr().out.strip()
    verifier = TokenVerifier.from_settings(load_settings())
    try:
        assert (await verifier.verify(token)).sub == "alice"
    finally:
        await verifier.aclose()


def test_policy_test_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["policy", "test", "policies"]) == 0
    assert " 0 failed" in capsys.readouterr().out
    (tmp_path / "p.rego").write_text("package p\n\nx := 1\n")
    (tmp_path / "p_test.rego").write_text("package p_test\n\ntest_x if data.p.x == 2\n")
    assert main(["policy", "test", str(tmp_path)]) == 1


def test_an_opa_url_selects_the_opa_engine_and_must_be_one() -> None:
    settings = load_settings({"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_OPA_URL": "http://opa:8181"})
    assert settings.opa_url == "http://opa:8181"
    for bad in ("opa:8181", "ftp://opa", "http://opa:8181/v1/data"):
        with pytest.raises(ConfigError, match="GATEWAY_OPA_URL"):
            load_settings({"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_OPA_URL": bad})
    with pytest.raises(ConfigError, match="GATEWAY_OPA_TIMEOUT_SECONDS"):
        load_settings(
            {
                "GATEWAY_JWT_SECRET": SECRET,
                "GATEWAY_OPA_URL": "http://opa:8181",
                "GATEWAY_OPA_TIMEOUT_SECONDS": "0",
            }
        )


def test_policy_test_command_defaults_to_gateway_policy_dir(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "p.rego").write_text("package p\n\nx := 1\n")
    (tmp_path / "p_test.rego").write_text("package p_test\n\ntest_x if data.p.x == 1\n")
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(tmp_path))
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    assert main(["policy", "test"]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
