"""compose.yaml runs the whole product: the gateway, OPA, Redis and OpenBao (and, in the
`replicas` profile, a second gateway behind HAProxy). scripts/compose-smoke builds and runs it
with podman; these tests check the file's structure and wiring without a container engine:
pinned images, healthchecks, restart policies, the gateway's settings naming real `Settings`
fields and pointing at the ports the other services listen on, OpenBao's storage and unseal
step, the CI override, and the Dockerfile's build context. Where the pinned opa binary is built
(`scripts/opa`, once per machine), OPA's own command line from compose.yaml and its config
(deploy/opa.yaml) are run outside a container, fed by a real gateway process's bundle, with
OPA's healthcheck."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.config import ConfigError, Settings, load_settings
from gateway.policy.embedded import compile_policy
from tests.fixtures.live_gateway import live_gateway
from tests.fixtures.opa_server import opa_binary
from tests.fixtures.ports import free_port, listens

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
OPA_VERSION = "1.22.3"
BACKENDS = ("opa", "redis", "openbao")
OPA_CONFIG = REPO / "deploy" / "opa.yaml"
OVERRIDE = REPO / "deploy" / "ci" / "compose.local.yaml"
OPENBAO_CONFIG = REPO / "deploy" / "openbao" / "openbao.hcl"
OPENBAO_START = REPO / "deploy" / "openbao" / "start.sh"
REPLICAS = ("gateway-2", "haproxy")
# What an operator exports before `docker compose up` (compose.yaml's first lines).
SECRETS = {
    "GATEWAY_JWT_SECRET": "a-secret-of-32-bytes-or-more-0000",
    "GATEWAY_BUNDLE_TOKEN": "a-bundle-token-0123456789",
    "GATEWAY_BUNDLE_SIGNING_KEY": "a-bundle-signing-key-of-32-bytes-000",
    "GATEWAY_METRICS_TOKEN": "a-metrics-token-0123456789",
    "GATEWAY_VAULT_ROLE_ID": "a-role-id",
    "GATEWAY_VAULT_SECRET_ID": "a-secret-id",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def gateway_env(services: dict[str, Any]) -> dict[str, str]:
    env = services["gateway"]["environment"]
    assert isinstance(env, dict), "the gateway's environment is a mapping (NAME: value)"
    return {name: str(value) for name, value in env.items()}


# --- helpers ---------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}` forms."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        present = name in env and (env[name] != "" or not op.startswith(":"))
        if present:
            return env[name]
        if op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op.endswith("-") else ""

    return _VARIABLE.sub(one, value)


def flag(args: list[str], name: str) -> str | None:
    """The value of `name=value` in an argument list (the last one wins, as in Go's flags)."""
    values = [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
    return values[-1] if values else None


def port_of(address: str) -> int:
    """`0.0.0.0:8181` or `http://opa:8181` -> 8181."""
    if "://" in address:
        parsed = urlsplit(address)
        assert parsed.port is not None, f"{address!r} names no port"
        return parsed.port
    return int(address.rsplit(":", 1)[1])


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for every volume, short or long syntax."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            options = parts[2].split(",") if len(parts) > 2 else []
            out.append((source, target, "ro" in options))
        else:
            out.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
    return out


def healthcheck_args(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return [str(part) for part in test]


# --- services, images, health and restarts ---------------------------------------------------


def test_the_services_exist(services: dict[str, Any]) -> None:
    assert set(services) == {"gateway", *BACKENDS, *REPLICAS}
    # The second replica and HAProxy start only with `--profile replicas`.
    assert all(services[name]["profiles"] == ["replicas"] for name in REPLICAS)
    assert not [n for n in ("gateway", *BACKENDS) if services[n].get("profiles")]


def test_the_second_replica_is_the_first_with_its_own_instance_id(
    services: dict[str, Any],
) -> None:
    one, two = services["gateway"], services["gateway-2"]
    assert one["build"] == two["build"] and one["volumes"] == two["volumes"]
    assert one["healthcheck"] == two["healthcheck"] and one["depends_on"] == two["depends_on"]
    env_one, env_two = dict(one["environment"]), dict(two["environment"])
    assert (env_one.pop("GATEWAY_INSTANCE_ID"), env_two.pop("GATEWAY_INSTANCE_ID")) == (
        "gateway-1",
        "gateway-2",
    )
    assert env_one == env_two, "replicas share every setting but their instance id"


def test_haproxy_balances_both_replicas_on_readyz(services: dict[str, Any]) -> None:
    haproxy = services["haproxy"]
    config_mount = [m for m in mounts(haproxy) if m[0] == "./deploy/haproxy.cfg"]
    assert config_mount and config_mount[0][2], "the config, read-only"
    assert haproxy["command"][-1] == config_mount[0][1]
    config = (REPO / "deploy" / "haproxy.cfg").read_text()
    servers = re.findall(r"^\s*server \S+ (\S+):(\d+)", config, re.MULTILINE)
    assert servers == [("gateway", "8080"), ("gateway-2", "8080")]
    assert "option httpchk GET /readyz" in config
    assert not re.search(r"^\s*(cookie|stick|balance source)", config, re.MULTILINE), (
        "no stickiness: /mcp is stateless"
    )
    bind = re.search(r"^\s*bind :(\d+)", config, re.MULTILINE)
    assert bind is not None
    assert [str(p).rsplit(":", 1)[-1] for p in haproxy["ports"]] == [bind[1]]
    assert f"/dev/tcp/127.0.0.1/{bind[1]}" in " ".join(healthcheck_args(haproxy))


def test_the_gateway_is_built_from_the_repo_dockerfile(services: dict[str, Any]) -> None:
    build = services["gateway"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO / context).resolve() == REPO
    assert (REPO / context / dockerfile).resolve() == DOCKERFILE


@pytest.mark.parametrize("name", [*BACKENDS, "haproxy"])
def test_every_image_is_pinned(services: dict[str, Any], name: str) -> None:
    image = services[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and "/" not in tag, f"{name}: {image!r} has no tag"
    assert tag != "latest" and not tag.startswith("latest-")
    # At least major.minor: `redis:7` or `openbao:2` would float across minor releases.
    assert re.match(r"^\d+\.\d+", tag), f"{name}: {image!r} is not pinned to a minor version"


def test_the_images_are_the_official_ones_at_the_tested_versions(services: dict[str, Any]) -> None:
    assert services["opa"]["image"] == f"openpolicyagent/opa:{OPA_VERSION}"
    redis_repo, _, redis_tag = services["redis"]["image"].rpartition(":")
    assert redis_repo == "redis" and redis_tag.startswith("7.")
    bao_repo, _, bao_tag = services["openbao"]["image"].rpartition(":")
    assert bao_repo == "openbao/openbao" and bao_tag.startswith("2.")
    assert services["haproxy"]["image"].rpartition(":")[0] == "haproxy"


def test_opa_is_the_version_ci_builds() -> None:
    script = REPO / "scripts" / "opa"
    if not script.is_file():
        pytest.skip("scripts/opa (which pins the OPA that CI builds) is not in this tree")
    pinned = re.search(r"^OPA_VERSION=v?(\S+)$", script.read_text(), re.MULTILINE)
    assert pinned is not None, "scripts/opa no longer sets OPA_VERSION"
    assert pinned[1] == OPA_VERSION


@pytest.mark.parametrize("name", ["gateway", *BACKENDS, *REPLICAS])
def test_every_service_has_a_healthcheck_and_restarts(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert service.get("restart") == "unless-stopped"
    check = service.get("healthcheck")
    assert check and not check.get("disable"), f"{name} has no healthcheck"
    args = healthcheck_args(service)
    assert args[0] in ("CMD", "CMD-SHELL") and len(args) > 1


def test_the_gateway_waits_for_healthy_backends(services: dict[str, Any]) -> None:
    depends_on = services["gateway"]["depends_on"]
    assert isinstance(depends_on, dict), "depends_on must carry conditions, not a bare list"
    assert {name: d.get("condition") for name, d in depends_on.items()} == dict.fromkeys(
        BACKENDS, "service_healthy"
    )


def test_only_the_gateway_is_published_and_on_loopback_by_default(
    services: dict[str, Any], gateway_env: dict[str, str]
) -> None:
    published = services["gateway"]["ports"]
    assert [str(p).rsplit(":", 1)[-1] for p in published] == [gateway_env["GATEWAY_PORT"]]
    for name in (*BACKENDS, "gateway-2"):
        assert "ports" not in services[name], f"{name} is published; it need not be"
    # Plain HTTP: reachable from this host only until TLS is put in front (docs/deployment.md).
    for name in ("gateway", "haproxy"):
        (port,) = services[name]["ports"]
        assert interpolate(str(port), {}).startswith("127.0.0.1:"), f"{name}: {port}"


def test_every_service_is_on_the_compose_network(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    assert all(service["networks"] == ["mcp"] for service in services.values())
    (subnet,) = compose["networks"]["mcp"]["ipam"]["config"]
    assert interpolate(subnet["subnet"], {}) == "172.30.80.0/24"


# --- the gateway's settings ------------------------------------------------------------------


def test_every_gateway_variable_is_a_setting(gateway_env: dict[str, str]) -> None:
    fields = set(Settings.__struct_fields__)
    for name in gateway_env:
        assert name.startswith("GATEWAY_"), f"{name}: the gateway reads GATEWAY_* variables"
        assert name.removeprefix("GATEWAY_").lower() in fields, f"{name} is no Settings field"
    wired = {"HOST", "JWT_SECRET", "REDIS_URL", "VAULT_ADDR", "VAULT_ROLE_ID", "OPA_URL"}
    assert {f"GATEWAY_{n}" for n in wired | {"POLICY_DIR"}} <= set(gateway_env)
    assert gateway_env["GATEWAY_HOST"] == "0.0.0.0"


@pytest.mark.parametrize(
    "name",
    [
        "GATEWAY_JWT_SECRET",
        "GATEWAY_METRICS_TOKEN",
        "GATEWAY_VAULT_ROLE_ID",
        "GATEWAY_VAULT_SECRET_ID",
        "GATEWAY_BUNDLE_TOKEN",
        "GATEWAY_BUNDLE_SIGNING_KEY",
    ],
)
def test_every_secret_is_required_and_has_no_default(
    gateway_env: dict[str, str], name: str
) -> None:
    assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", gateway_env[name])
    with pytest.raises(KeyError, match=name):
        interpolate(gateway_env[name], {})


def test_the_production_settings_are_on(gateway_env: dict[str, str]) -> None:
    assert gateway_env["GATEWAY_LOG_FORMAT"] == "json"
    # MCP upstreams on the compose network are allowed, and nothing else private.
    assert "GATEWAY_ALLOW_PRIVATE_UPSTREAMS" not in gateway_env
    assert interpolate(gateway_env["GATEWAY_PRIVATE_UPSTREAM_CIDRS"], {}) == "172.30.80.0/24"


def test_the_compose_settings_load(gateway_env: dict[str, str]) -> None:
    env = {name: interpolate(value, SECRETS) for name, value in gateway_env.items()}
    # /policies exists inside the container only; the mount itself is checked below.
    env["GATEWAY_POLICY_DIR"] = str(REPO / "policies")
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        if "GATEWAY_OPA_URL" in str(exc) and "not available" in str(exc):
            pytest.xfail(f"the OPA engine has not landed yet: {exc}")
        raise
    assert settings.host == "0.0.0.0" and settings.port == int(env["GATEWAY_PORT"])
    assert settings.redis_url == env["GATEWAY_REDIS_URL"]
    assert settings.vault_addr == env["GATEWAY_VAULT_ADDR"]
    assert settings.opa_url == env["GATEWAY_OPA_URL"]
    assert settings.bundle_token == SECRETS["GATEWAY_BUNDLE_TOKEN"]
    assert settings.bundle_signing_key == SECRETS["GATEWAY_BUNDLE_SIGNING_KEY"]
    assert settings.metrics_token == SECRETS["GATEWAY_METRICS_TOKEN"]
    assert settings.vault_role_id == SECRETS["GATEWAY_VAULT_ROLE_ID"]
    assert settings.vault_secret_id is not None and settings.vault_token is None
    assert settings.log_format == "json" and settings.instance_id == "gateway-1"
    assert settings.private_upstream_cidrs == ("172.30.80.0/24",)


def test_the_gateway_reaches_opa_where_it_listens(
    services: dict[str, Any], gateway_env: dict[str, str]
) -> None:
    url = urlsplit(gateway_env["GATEWAY_OPA_URL"])
    addr = flag(services["opa"]["command"], "--addr")
    assert addr is not None and addr.startswith("0.0.0.0:"), "OPA must listen on all interfaces"
    assert (url.scheme, url.hostname, url.port) == ("http", "opa", port_of(addr))


def test_the_gateway_reaches_redis_where_it_listens(
    services: dict[str, Any], gateway_env: dict[str, str]
) -> None:
    url = urlsplit(gateway_env["GATEWAY_REDIS_URL"])
    command = [str(a) for a in services["redis"]["command"]]
    listens = int(command[command.index("--port") + 1]) if "--port" in command else 6379
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", listens)


def _openbao_listens() -> str:
    found = re.search(r'listener "tcp" \{[^}]*address\s*=\s*"([^"]+)"', OPENBAO_CONFIG.read_text())
    assert found is not None, "openbao.hcl has no tcp listener"
    return found[1]


def test_the_gateway_reaches_openbao_where_it_listens(gateway_env: dict[str, str]) -> None:
    addr = _openbao_listens()
    assert addr.startswith("0.0.0.0:")
    url = urlsplit(gateway_env["GATEWAY_VAULT_ADDR"])
    assert (url.scheme, url.hostname, url.port) == ("http", "openbao", port_of(addr))


def test_openbao_keeps_its_data_and_unseals_itself(
    compose: dict[str, Any], services: dict[str, Any], gateway_env: dict[str, str]
) -> None:
    openbao = services["openbao"]
    assert openbao["entrypoint"] == ["/bin/sh", "/openbao/gateway/start.sh"]
    assert ("./deploy/openbao", "/openbao/gateway", True) in mounts(openbao)
    config = OPENBAO_CONFIG.read_text()
    assert "-dev" not in " ".join(map(str, openbao.get("command", [])))
    storage = re.search(r'storage "(\w+)" \{[^}]*path\s*=\s*"([^"]+)"', config)
    assert storage is not None and storage[1] == "raft", "persistent storage, not in-memory"
    volumes = {target: source for source, target, _ in mounts(openbao)}
    assert volumes[storage[2]] in compose["volumes"], "the storage is a named volume"
    start = OPENBAO_START.read_text()
    keys = re.search(r"^KEYS=(\S+)/", start, re.MULTILINE)
    assert keys is not None and volumes[keys[1]] in compose["volumes"], "keys kept on a volume"
    assert "-config=/openbao/gateway/openbao.hcl" in start
    assert "bao operator unseal" in start and "DEMO COMPROMISE" in start
    # The AppRole it registers is the one the gateway logs in with, from the same variables.
    for name in ("GATEWAY_VAULT_ROLE_ID", "GATEWAY_VAULT_SECRET_ID"):
        assert openbao["environment"][name] == gateway_env[name]
        assert f'"${name}"' in start


# --- healthchecks ask the ports the services listen on ---------------------------------------


def test_the_gateway_healthcheck_asks_readyz(
    services: dict[str, Any], gateway_env: dict[str, str]
) -> None:
    args = healthcheck_args(services["gateway"])
    assert args[:3] == ["CMD", "python", "-c"], "the image has no curl or wget"
    url = re.search(r"http://[^'\"]+", args[3])
    assert url is not None
    parsed = urlsplit(url[0])
    assert parsed.path == "/readyz" and parsed.port == int(gateway_env["GATEWAY_PORT"])


def test_the_opa_healthcheck_asks_the_server(services: dict[str, Any]) -> None:
    args = healthcheck_args(services["opa"])
    # A real query of the server, not `opa eval true` (which only proves the binary runs).
    assert args[:4] == ["CMD", "/opa", "eval", "--fail"]
    url = re.search(r'"url":\s*"([^"]+)"', args[4])
    assert url is not None and urlsplit(url[1]).path == "/health"
    assert urlsplit(url[1]).port == port_of(flag(services["opa"]["command"], "--addr") or "")


def test_the_openbao_healthcheck_asks_the_server(services: dict[str, Any]) -> None:
    args = healthcheck_args(services["openbao"])
    assert args[:3] == ["CMD", "bao", "status"]
    address = flag(args, "-address") or services["openbao"].get("environment", {})["BAO_ADDR"]
    assert port_of(address) == port_of(_openbao_listens())


def test_the_redis_healthcheck_pings(services: dict[str, Any]) -> None:
    assert "redis-cli ping" in " ".join(healthcheck_args(services["redis"]))


# --- Redis, OPA and the policies --------------------------------------------------------------


def test_redis_never_evicts_and_keeps_its_data(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    command = [str(a) for a in services["redis"]["command"]]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--appendonly") + 1] == "yes"
    data = [(s, t) for s, t, _ in mounts(services["redis"]) if t == "/data"]
    assert len(data) == 1, "Redis keeps /data on a volume"
    assert data[0][0] in (compose.get("volumes") or {}), "a named volume, declared at top level"


def _opa_config() -> dict[str, Any]:
    loaded = yaml.safe_load(OPA_CONFIG.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_opa_runs_the_gateways_signed_bundle_and_nothing_else(
    services: dict[str, Any], gateway_env: dict[str, str]
) -> None:
    opa = services["opa"]
    command = [str(a) for a in opa["command"]]
    assert command[:2] == ["run", "--server"]
    config_path = flag(command, "--config-file")
    assert config_path is not None
    assert ("./deploy/opa.yaml", config_path, True) in mounts(opa), "the config, read-only"
    assert not [a for a in command[2:] if not a.startswith("-")], "no policy path: the bundle"
    assert not [m for m in mounts(opa) if m[0] == "./policies"], "OPA reads no policy files"
    config = _opa_config()
    service = config["services"]["gateway"]
    url = urlsplit(service["url"])
    assert (url.scheme, url.hostname, url.port) == (
        "http",
        "gateway",
        int(gateway_env["GATEWAY_PORT"]),
    )
    assert service["credentials"]["bearer"]["token"] == "${GATEWAY_BUNDLE_TOKEN}"
    bundle = config["bundles"]["gateway"]  # the name the gateway reads in OPA's status
    assert (bundle["service"], bundle["resource"]) == ("gateway", "/v1/policy/bundle")
    key_id = gateway_env.get("GATEWAY_BUNDLE_SIGNING_KEY_ID", "gateway")
    assert bundle["signing"]["keyid"] == key_id
    assert config["keys"][key_id] == {"algorithm": "HS256", "key": "${GATEWAY_BUNDLE_SIGNING_KEY}"}
    assert config["status"] == {"prometheus": True}  # the status API on, pushed nowhere
    # OPA replaces ${...} from its own environment: the same compose variables as the gateway.
    for name in ("GATEWAY_BUNDLE_TOKEN", "GATEWAY_BUNDLE_SIGNING_KEY"):
        assert opa["environment"][name] == gateway_env[name]
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", gateway_env[name]), f"{name} required"


def test_the_gateway_bundles_the_policies_it_mounts(
    services: dict[str, Any], gateway_env: dict[str, str]
) -> None:
    policy_dir = gateway_env["GATEWAY_POLICY_DIR"]
    assert ("./policies", policy_dir, True) in mounts(services["gateway"])
    assert (REPO / "policies" / ".manifest").is_file()


# --- the Dockerfile and its build context -----------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.rstrip("/").removeprefix("**/"))
        or fnmatch.fnmatch(Path(prefix).name, pattern.rstrip("/").removeprefix("**/"))
        for pattern in patterns
        for prefix in prefixes
    )


def test_every_copy_source_is_in_the_build_context() -> None:
    sources = []
    for instruction, args in _dockerfile():
        if instruction == "COPY":
            words = [w for w in args.split() if not w.startswith("--")]
            sources += words[:-1]
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repo"
        assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out() -> None:
    # deploy/: CI's image contexts hold the OPA and OpenBao binaries (200 MB).
    for path in (".venv", ".git", ".opa", "tests", ".mypy_cache", "gateway/__pycache__", "deploy"):
        assert _ignored(path), f"{path} would be sent to the image build"


def test_the_image_runs_the_gateway_unprivileged(gateway_env: dict[str, str]) -> None:
    instructions = _dockerfile()
    # Any Debian/Ubuntu-based image; CI builds it on its own Debian base.
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.12-slim")
    assert instructions[1] == ("FROM", "${BASE_IMAGE}")
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1] not in ("root", "0"), "the gateway must not run as root"
    env = " ".join(args for instruction, args in instructions if instruction == "ENV")
    assert "GATEWAY_HOST=0.0.0.0" in env and "GATEWAY_POLICY_DIR=/app/policies" in env
    assert ("EXPOSE", gateway_env["GATEWAY_PORT"]) in instructions
    assert instructions[-1] == ("CMD", '["gateway", "serve"]')
    assert any(i == "RUN" and "pip install --no-cache-dir ." in a for i, a in instructions)
    assert any(i == "HEALTHCHECK" and "/readyz" in a for i, a in instructions)


# --- CI's override: every image built locally, nothing else changed ---------------------------


def test_the_ci_override_only_swaps_images_in(services: dict[str, Any]) -> None:
    override = yaml.safe_load(OVERRIDE.read_text())["services"]
    assert set(override) == set(services)
    for name, service in override.items():
        assert service["image"].startswith("localhost/"), f"{name}: built here"
        assert service["build"]["args"]["BASE_IMAGE"] == "localhost/debian-base:bookworm"
        extra = set(service) - {"image", "build"}
        assert extra <= ({"ports"} if name == "gateway-2" else set()), f"{name}: {extra}"
        context = REPO / service["build"]["context"]
        if name.startswith("gateway"):
            assert context.resolve() == REPO
        else:
            assert (context / "Containerfile").is_file(), f"{name}: no Containerfile"


# --- OPA's command line, run (outside a container) with the pinned binary ---------------------


def _pinned_opa() -> str:
    for candidate in (opa_binary(), shutil.which("opa")):
        if candidate and Path(candidate).is_file():
            version = subprocess.run(
                [candidate, "version"], capture_output=True, text=True, check=False
            ).stdout
            if f"Version: {OPA_VERSION}" in version:
                return candidate
    pytest.skip(f"no opa {OPA_VERSION} binary (scripts/opa builds one)")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


@pytest.fixture
def opa_sidecar(services: dict[str, Any], tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """compose.yaml's OPA command and deploy/opa.yaml, outside a container, on free ports: the
    config's gateway URL is a real gateway process serving the signed bundle of policies/."""
    opa = _pinned_opa()
    with live_gateway(
        tmp_path,
        GATEWAY_POLICY_DIR=str(REPO / "policies"),
        GATEWAY_BUNDLE_TOKEN=SECRETS["GATEWAY_BUNDLE_TOKEN"],
        GATEWAY_BUNDLE_SIGNING_KEY=SECRETS["GATEWAY_BUNDLE_SIGNING_KEY"],
    ) as gateway:
        config = OPA_CONFIG.read_text().replace("http://gateway:8080", gateway.base_url)
        local = tmp_path / "opa.yaml"
        local.write_text(config)
        port = free_port()
        command = [str(a) for a in services["opa"]["command"]]
        args = [
            f"--addr=127.0.0.1:{port}"
            if a.startswith("--addr=")
            else f"--config-file={local}"
            if a.startswith("--config-file=")
            else a
            for a in command
        ]
        environment = {
            **os.environ,
            **{name: SECRETS[name] for name in services["opa"]["environment"]},
        }
        process = subprocess.Popen(
            [opa, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
            env=environment,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    _get(f"http://127.0.0.1:{port}/health?bundles")  # the bundle is active
                    if listens(process.pid, port):  # this OPA, not another process's (ports.py)
                        break
                except (urllib.error.URLError, OSError):
                    pass
                assert process.poll() is None, "OPA exited: compose.yaml's command is refused"
                assert time.monotonic() < deadline, "OPA did not activate the gateway's bundle"
                time.sleep(0.2)
            yield opa, port, gateway.base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _healthcheck(services: dict[str, Any], opa: str, port: int, path: str = "/health") -> int:
    """Run OPA's healthcheck with the local binary against 127.0.0.1:`port` (and `path`)."""
    listens = port_of(flag(services["opa"]["command"], "--addr") or "")
    args = healthcheck_args(services["opa"])[2:]  # after CMD and /opa
    args = [opa, *(a.replace(f":{listens}/health", f":{port}{path}") for a in args)]
    return subprocess.run(args, capture_output=True, check=False, timeout=30).returncode


@pytest.mark.opa
def test_opa_runs_the_bundle_the_gateway_serves(
    services: dict[str, Any], opa_sidecar: tuple[str, int, str]
) -> None:
    opa, port, gateway_url = opa_sidecar
    base = f"http://127.0.0.1:{port}"
    assert _healthcheck(services, opa, port) == 0, "the healthcheck fails on a healthy OPA"
    # A non-200 answer must fail it too (in `opa eval`, a lone `x == 200` is a false value,
    # and --fail passes on it).
    assert _healthcheck(services, opa, port, "/no-such-endpoint") != 0
    served = [p["id"] for p in _get(f"{base}/v1/policies")["result"]]
    assert served and not [p for p in served if p.endswith("_test.rego")]
    # OPA runs the revision the gateway's own engine gives the same files, and says so.
    revision = compile_policy(REPO / "policies").revision
    status = _get(f"{base}/v1/status")["result"]["bundles"]["gateway"]
    assert status["active_revision"] == revision
    bundles = _get(f"{base}/v1/data/system/bundles")["result"]
    roots = [b["manifest"]["roots"] for b in bundles.values()]
    assert roots == [json.loads((REPO / "policies" / ".manifest").read_text())["roots"]]
    assert "result" not in _get(f"{base}/v1/data/schemas")
    assert _get(f"{gateway_url}/readyz")["policy_bundle"]["revision"] == revision


@pytest.mark.opa
def test_opa_healthcheck_fails_without_a_server(services: dict[str, Any]) -> None:
    assert _healthcheck(services, _pinned_opa(), free_port()) != 0
