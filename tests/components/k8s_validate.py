"""Rebuild Kubernetes manifests from recorded resources and validate them with ``kubernetes-validate``.

:func:`manifest` is the package's own (:mod:`agent_server_infra.plan.manifests`, what ``plan --manifests``
writes); :func:`validate` checks it against the strict (no unknown fields) OpenAPI schema of the newest Kubernetes
version ``kubernetes-validate`` bundles, and a KEDA object against the ``openAPIV3Schema`` of KEDA's own CRD
(``tests/data/keda``), made strict the same way, plus the CRD's one CEL rule (min ≤ max replicas).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from agent_server_infra.plan import manifests as plan_manifests
from agent_server_infra.plan.engine import RecordedResource

K8S_VERSION: str = kubernetes_validate.latest_version()
"""The newest Kubernetes version whose schemas ``kubernetes-validate`` bundles."""


def manifest(resource: RecordedResource) -> dict[str, Any]:
    """The object as the API server would receive it, secrets masked (``plan --manifests``' own builder)."""
    return plan_manifests.manifest(resource)


api_version_and_kind = plan_manifests.api_version_and_kind


KEDA_CRDS = Path(__file__).parents[1] / "data" / "keda"
KEDA_VERSION = "keda 2.20.2"


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it lists the fields (as ``kubectl --validate=strict``)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema and not schema.get(
                "x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def keda_schemas() -> dict[str, Any]:
    """KEDA's kinds → their strict v1alpha1 schema."""
    schemas: dict[str, Any] = {}
    for path in sorted(KEDA_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        version = next(item for item in crd["spec"]["versions"] if item["name"] == "v1alpha1")
        schemas[crd["spec"]["names"]["kind"]] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


def validate_manifest(data: dict[str, Any], version: str = K8S_VERSION) -> str:
    """Validate one manifest strictly; returns the schema version used, raises ``ValidationError``."""
    if data["apiVersion"] == "keda.sh/v1alpha1":
        jsonschema.validate(data, keda_schemas()[data["kind"]])
        spec = data["spec"]
        if data["kind"] == "ScaledObject" and spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
            raise jsonschema.ValidationError("minReplicaCount must be less than or equal to maxReplicaCount")
        return KEDA_VERSION
    return kubernetes_validate.validate(data, version, strict=True)


def validate(resource: RecordedResource, version: str = K8S_VERSION) -> str:
    """Rebuild and validate a recorded Kubernetes resource."""
    return validate_manifest(manifest(resource), version)
