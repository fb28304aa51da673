"""The Kubernetes manifests: RBAC grants only pod reads, and the work pool template is one Prefect accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deployments" / "k8s"
READ_VERBS = {"get", "list", "watch"}


@pytest.fixture(scope="module")
def rbac() -> list[dict]:
    return [doc for doc in yaml.safe_load_all((K8S / "rbac.yaml").read_text()) if doc]


@pytest.fixture(scope="module")
def template() -> dict:
    return json.loads((K8S / "base-job-template.json").read_text())


def _one(docs: list[dict], kind: str) -> dict:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def test_rbac_has_a_service_account_a_role_and_its_binding_only(rbac: list[dict]) -> None:
    assert sorted(d["kind"] for d in rbac) == ["Role", "RoleBinding", "ServiceAccount"]  # nothing cluster-wide


def test_the_role_grants_nothing_beyond_reading_pods_and_their_logs(rbac: list[dict]) -> None:
    rules = _one(rbac, "Role")["rules"]
    assert rules, "the Role must grant the pod reads"
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected keys in {rule}"  # no resourceNames games
        assert rule["apiGroups"] == [""]
        assert set(rule["resources"]) <= {"pods", "pods/log"}
        assert set(rule["verbs"]) <= READ_VERBS
        assert "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"]
    granted = {(r, v) for rule in rules for r in rule["resources"] for v in rule["verbs"]}
    assert {("pods", "list"), ("pods", "get"), ("pods/log", "get")} <= granted  # what elastic_blast.pods calls


def test_the_binding_gives_the_role_to_the_flows_service_account(rbac: list[dict], template: dict) -> None:
    account, role, binding = _one(rbac, "ServiceAccount"), _one(rbac, "Role"), _one(rbac, "RoleBinding")
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["roleRef"] == role_ref
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": account["metadata"]["namespace"]}
    ]
    variables = template["variables"]["properties"]
    assert variables["service_account_name"]["default"] == account["metadata"]["name"]
    assert variables["namespace"]["default"] == account["metadata"]["namespace"]
    assert variables["env"]["default"]["BLASTFLOW_ELB_NAMESPACE"] == role["metadata"]["namespace"]


def test_the_base_job_template_is_valid_for_prefect(template: dict) -> None:
    from prefect.server.schemas.actions import validate_base_job_template

    assert validate_base_job_template(template) == template


def test_the_template_renders_a_job_the_kubernetes_worker_accepts(template: dict) -> None:
    """Fill the template as the worker does (defaults, then a deployment's job variables) and check the Job."""
    from prefect.utilities.templating import apply_values
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    values = {name: spec["default"] for name, spec in template["variables"]["properties"].items()
              if spec.get("default") is not None}
    values |= {"image": "registry.example/blastflow:0.1.0", "env": values["env"] | {"BLASTFLOW_ELB_RESULTS": "gs://b/r"}}
    config = KubernetesWorkerJobConfiguration(**apply_values(template["job_configuration"], values))

    pod = config.job_manifest["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "blastflow-flow"
    assert pod["automountServiceAccountToken"] is True  # in-cluster credentials for the pod reads
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["image"] == "registry.example/blastflow:0.1.0"
    assert config.namespace == "blastflow"
    assert config.env["BLASTFLOW_BACKEND"] == "elastic-blast" and config.env["BLASTFLOW_ELB_RESULTS"] == "gs://b/r"
