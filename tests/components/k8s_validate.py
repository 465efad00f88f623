"""Rebuild Kubernetes manifests from recorded resources and validate them with ``kubernetes-validate``.

:func:`manifest` is the package's own (:mod:`agent_server_infra.plan.manifests`, what ``plan --manifests``
writes); :func:`validate` checks it against the strict (no unknown fields) OpenAPI schema of the newest Kubernetes
version ``kubernetes-validate`` bundles, and a KEDA object against the ``openAPIV3Schema`` of KEDA's own CRD
(``tests/data/keda``), made strict the same way, plus the CRD's one CEL rule (min ≤ max replicas); and a
Prometheus Operator object with the validators of ``@kubernetes-models/prometheus-operator`` (npm, generated from
the operator's API types), plus a strict check of its field names against the package's declarations.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
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


PROMETHEUS_OPERATOR_API = "monitoring.coreos.com/v1"
PROMETHEUS_OPERATOR_CHECKER = Path(__file__).with_name("prometheus_operator.mjs")
PROMETHEUS_OPERATOR_MODELS = (Path(__file__).parents[2] / "node_modules" / "@kubernetes-models" /
                              "prometheus-operator" / "monitoring.coreos.com" / "v1")
PROMETHEUS_OPERATOR_VERSION = "@kubernetes-models/prometheus-operator 6.0.0"
_PROPERTY = re.compile(r'^\s+"([A-Za-z0-9_$]+)"\??:', re.MULTILINE)
_EXTENDS = re.compile(r"export interface I\w+ extends ([^{]+)\{")
_IMPORT = re.compile(r'import \{ (\w+) \} from "\./(\w+)\.js";')


@functools.cache
def declared_fields(model: str) -> frozenset[str]:
    """The fields the package declares for ``model`` (``PodMonitorSpec``), its base interfaces' included: what a
    strict schema accepts (the package's validators, like the CRD's schema, let unknown fields through)."""
    text = (PROMETHEUS_OPERATOR_MODELS / f"{model}.d.ts").read_text()
    fields = set(_PROPERTY.findall(text))
    imports = dict(_IMPORT.findall(text))
    for extends in _EXTENDS.findall(text):
        for base in (name.strip() for name in extends.split(",")):
            if base in imports:
                fields |= declared_fields(imports[base])
    return frozenset(fields)


def _strict_prometheus_operator(data: dict[str, Any]) -> None:
    """Unknown fields of a PodMonitor's spec and endpoints are refused (``kubectl --validate=strict``)."""
    if data["kind"] != "PodMonitor":
        return
    spec = data["spec"]
    checks = [("spec", spec, "PodMonitorSpec")]
    checks += [(f"spec.podMetricsEndpoints[{index}]", endpoint, "PodMetricsEndpoint")
               for index, endpoint in enumerate(spec.get("podMetricsEndpoints") or [])]
    for path, value, model in checks:
        unknown = sorted(set(value) - declared_fields(model))
        if unknown:
            raise jsonschema.ValidationError(f"{path}: unknown fields {unknown} (not in {model})")
    unknown = sorted(set(spec.get("selector") or {}) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise jsonschema.ValidationError(f"spec.selector: unknown fields {unknown}")


def validate_prometheus_operator(data: dict[str, Any]) -> str:
    """Validate a ``monitoring.coreos.com/v1`` object with the package's schema validators (Node) and strictly."""
    proc = subprocess.run(["node", str(PROMETHEUS_OPERATOR_CHECKER)], input=json.dumps([data]),
                          capture_output=True, text=True, check=True, timeout=60)
    [problem] = json.loads(proc.stdout)
    if problem is not None:
        raise jsonschema.ValidationError(problem)
    _strict_prometheus_operator(data)
    return PROMETHEUS_OPERATOR_VERSION


def validate_manifest(data: dict[str, Any], version: str = K8S_VERSION) -> str:
    """Validate one manifest strictly; returns the schema version used, raises ``ValidationError``."""
    if data["apiVersion"] == PROMETHEUS_OPERATOR_API:
        return validate_prometheus_operator(data)
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
