"""deploy/kubernetes: the manifests render (render.py adds the policies ConfigMap), pass
kube-score with warnings as failures (scripts/kube-score, built once per machine from the Go
module proxy; it needs no cluster), and are wired like compose.yaml: the same OPA, the same
bundle config, settings that exist, secrets from a Secret. No cluster runs here, so nothing is
applied."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import Settings
from gateway.policy.embedded import compile_policy

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"


def _render(policy_dir: Path = REPO / "policies") -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("render", KUBE / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    documents: list[dict[str, Any]] = module.render(policy_dir)
    return documents


def _one(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def _containers(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    pod = _one(documents, "Deployment")["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod["containers"]}


def test_the_policies_configmap_lays_out_the_same_tree(tmp_path: Path) -> None:
    documents = _render()
    data = _one(documents, "ConfigMap", "mcp-policy-gateway-policies")["data"]
    pod = _one(documents, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "policies"]
    # What the kubelet does with the items: each key at its path.
    for item in volume["configMap"]["items"]:
        target = tmp_path / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[item["key"]])
    expected = sorted(
        p.relative_to(REPO / "policies").as_posix()
        for p in (REPO / "policies").rglob("*")
        if p.is_file()
    )
    laid_out = sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
    )
    assert laid_out == expected
    assert compile_policy(tmp_path).revision == compile_policy(REPO / "policies").revision


def test_render_refuses_a_directory_without_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "a.rego").write_text("package a\n")
    with pytest.raises(SystemExit, match=r"no \.manifest"):
        _render(tmp_path)


def test_the_opa_sidecar_runs_the_compose_opa_on_its_pods_gateway() -> None:
    documents = _render()
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    opa = _containers(documents)["opa"]
    assert opa["image"] == compose["opa"]["image"]
    assert "--addr=127.0.0.1:8181" in opa["args"], "loopback only"
    config_map = _one(documents, "ConfigMap", "mcp-policy-gateway-opa")
    config = yaml.safe_load(config_map["data"]["opa.yaml"])
    compose_config = yaml.safe_load((REPO / "deploy" / "opa.yaml").read_text())
    assert config["services"]["gateway"]["url"] == "http://127.0.0.1:8080"
    compose_config["services"]["gateway"]["url"] = "http://127.0.0.1:8080"
    compose_config.pop("decision_logs")  # the gateway keeps the decision log itself
    assert config == compose_config


def test_the_gateway_settings_exist_and_secrets_come_from_a_secret() -> None:
    gateway = _containers(_render())["gateway"]
    fields = set(Settings.__struct_fields__)
    secret_keys = []
    for variable in gateway["env"]:
        name = variable["name"]
        assert name.removeprefix("GATEWAY_").lower() in fields, f"{name} is no setting"
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "mcp-policy-gateway"
            secret_keys.append(name)
    assert set(secret_keys) == {
        "GATEWAY_JWT_SECRET",
        "GATEWAY_REDIS_URL",
        "GATEWAY_VAULT_ROLE_ID",
        "GATEWAY_VAULT_SECRET_ID",
        "GATEWAY_METRICS_TOKEN",
        "GATEWAY_BUNDLE_TOKEN",
        "GATEWAY_BUNDLE_SIGNING_KEY",
    }
    env = {v["name"]: v.get("value") for v in gateway["env"]}
    assert env["GATEWAY_OPA_URL"] == "http://127.0.0.1:8181"
    assert env["GATEWAY_POLICY_DIR"] == "/policies"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_kube_score_passes_with_warnings_as_failures(tmp_path: Path) -> None:
    built = subprocess.run(
        [str(REPO / "scripts" / "kube-score")], capture_output=True, text=True, check=False
    )
    if built.returncode == 3:
        pytest.skip("no Go toolchain here: kube-score cannot be built")
    assert built.returncode == 0, built.stderr
    rendered = tmp_path / "mcp-policy-gateway.yaml"
    rendered.write_text(yaml.safe_dump_all(_render(), sort_keys=False))
    lint = subprocess.run(
        [built.stdout.strip(), "score", "--exit-one-on-warning", str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # Every object was scored (a manifest kube-score cannot parse is an error, not a pass).
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"):
        assert kind in lint.stdout


def test_kube_score_fails_a_pod_without_probes_or_limits(tmp_path: Path) -> None:
    built = subprocess.run(
        [str(REPO / "scripts" / "kube-score")], capture_output=True, text=True, check=False
    )
    if built.returncode == 3:
        pytest.skip("no Go toolchain here: kube-score cannot be built")
    documents = _render()
    for container in _containers(documents).values():
        container.pop("resources")
        container.pop("readinessProbe")
    rendered = tmp_path / "bad.yaml"
    rendered.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    lint = subprocess.run(
        [built.stdout.strip(), "score", "--exit-one-on-warning", str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode != 0, "the lint would pass anything"
