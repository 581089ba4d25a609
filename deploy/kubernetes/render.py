"""Print the Kubernetes manifests of gateway.yaml with the policy directory as a ConfigMap.

    python deploy/kubernetes/render.py [POLICY_DIR] > mcp-policy-gateway.yaml
    kubectl apply -f mcp-policy-gateway.yaml

A ConfigMap's keys cannot hold a `/`, so each file of POLICY_DIR (default: policies/) is stored
under its path with `/` spelled `__`, and the Deployment's `policies` volume lists every key
with the path it takes again: the pod sees the same tree as the repository. Needs PyYAML (in
the test extra). A new revision of the policies is a new ConfigMap content: the gateway sees
the change within GATEWAY_POLICY_POLL_SECONDS of the kubelet updating the volume, checks it
and serves it to its OPA sidecar, or refuses it (docs/policies.md).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
NAME = "mcp-policy-gateway-policies"
LIMIT = 1024 * 1024  # a ConfigMap holds at most 1 MiB


def render(policy_dir: Path) -> list[dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all((HERE / "gateway.yaml").read_text()) if d]
    files = sorted(p for p in policy_dir.rglob("*") if p.is_file())
    data = {p.relative_to(policy_dir).as_posix(): p.read_text() for p in files}
    if not data or ".manifest" not in data:
        raise SystemExit(f"{policy_dir}: no policy directory (no .manifest)")
    if sum(len(text.encode()) for text in data.values()) > LIMIT:
        raise SystemExit(f"{policy_dir}: over the 1 MiB a ConfigMap holds")
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/name": "mcp-policy-gateway"}},
        "data": {path.replace("/", "__"): text for path, text in data.items()},
    }
    for document in documents:
        if document["kind"] == "Deployment":
            for volume in document["spec"]["template"]["spec"]["volumes"]:
                if volume.get("configMap", {}).get("name") == NAME:
                    volume["configMap"]["items"] = [
                        {"key": path.replace("/", "__"), "path": path} for path in data
                    ]
    return [configmap, *documents]


def main() -> None:
    policy_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[1] / "policies"
    yaml.safe_dump_all(render(policy_dir), sys.stdout, sort_keys=False, width=100)


if __name__ == "__main__":
    main()
