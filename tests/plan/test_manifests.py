"""``plan STACK --manifests DIR``: every Kubernetes object as the YAML the provider would apply."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent_server_infra import cli
from tests.components import k8s_validate
from tests.helpers import ROOT


@pytest.fixture(scope="module")
def prod_manifests(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    directory = tmp_path_factory.mktemp("manifests")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        assert cli.main(["plan", "prod", "--quiet", "--manifests", str(directory)]) == 0
    return [yaml.safe_load(path.read_text()) for path in sorted(directory.glob("*.yaml"))]


def test_every_kubernetes_object_of_prod_is_written_and_validates(prod_manifests: list[dict]) -> None:
    kinds = sorted(document["kind"] for document in prod_manifests)
    # The API scales on CPU (an HPA), the queue on its backlog (KEDA's ScaledObject owns its HPA).
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "Ingress",
                     "Namespace", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy",
                     "PodDisruptionBudget", "PodDisruptionBudget", "ScaledObject", "Secret", "Service",
                     "ServiceAccount", "TriggerAuthentication"]
    for document in prod_manifests:
        assert k8s_validate.validate_manifest(document)
        assert document["metadata"]["name"], "auto-named objects carry their generated name"


def test_secrets_are_masked_unless_asked(prod_manifests: list[dict], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    secret = next(document for document in prod_manifests if document["kind"] == "Secret")
    assert set(secret["stringData"].values()) == {"[secret]"}
    assert "DATABASE_URI" in secret["stringData"]
    monkeypatch.chdir(ROOT)
    assert cli.main(["plan", "prod", "--quiet", "--show-secrets", "--manifests", str(tmp_path)]) == 0
    shown = next(yaml.safe_load(path.read_text()) for path in tmp_path.glob("secret-*.yaml"))
    assert shown["stringData"]["DATABASE_URI"].startswith("postgresql://langgraph:")
    assert shown["stringData"]["DATABASE_URI"].endswith("?sslmode=require")
