"""Rebuild Kubernetes manifests from recorded resources and validate them with ``kubernetes-validate``.

The mock engine records each Kubernetes object's inputs in engine camelCase, with numbers as floats and secret
values wrapped in :class:`~agent_server_infra.plan.engine.Secret` markers. :func:`manifest` turns such a record back
into the object the provider would send to the API server; :func:`validate` checks it against the strict
(no unknown fields) OpenAPI schema of the newest Kubernetes version ``kubernetes-validate`` bundles.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from agent_server_infra.plan.engine import RecordedResource, Secret

K8S_VERSION: str = kubernetes_validate.latest_version()
"""The newest Kubernetes version whose schemas ``kubernetes-validate`` bundles."""
MASK = "[secret]"


def api_version_and_kind(type_token: str) -> tuple[str, str]:
    """``kubernetes:apps/v1:Deployment`` → ``("apps/v1", "Deployment")``; the core group is just ``v1``."""
    package, group_version, kind = type_token.split(":")
    if package != "kubernetes":
        raise ValueError(f"not a Kubernetes resource type: {type_token}")
    group, _, version = group_version.rpartition("/")
    return (version if group == "core" else group_version), kind


def _mask(value: Any) -> Any:
    """Keep a secret's shape (a map stays a map) but none of its values."""
    if isinstance(value, Secret):
        return _mask(value.value)
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return MASK


def _plain(value: Any) -> Any:
    if isinstance(value, Secret):
        return _mask(value.value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifest(resource: RecordedResource) -> dict[str, Any]:
    """The object as the API server would receive it: apiVersion and kind from the type token, the recorded
    inputs with integral floats back to ints and secret values masked, and the generated name when Pulumi
    auto-named it."""
    api_version, kind = api_version_and_kind(resource.type)
    body = {key: _plain(value) for key, value in resource.inputs.items() if key not in ("apiVersion", "kind")}
    for key in ("apiVersion", "kind"):
        recorded = resource.inputs.get(key)
        expected = api_version if key == "apiVersion" else kind
        if recorded is not None and recorded != expected:
            raise ValueError(f"{resource.name}: recorded {key} {recorded!r} disagrees with {resource.type}")
    metadata = dict(body.get("metadata") or {})
    if "name" not in metadata:
        generated = (resource.outputs.get("metadata") or {}).get("name")
        if generated:
            metadata["name"] = generated
    return {"apiVersion": api_version, "kind": kind, **body, "metadata": metadata}


def validate_manifest(data: dict[str, Any], version: str = K8S_VERSION) -> str:
    """Validate one manifest strictly; returns the schema version used, raises ``ValidationError``."""
    return kubernetes_validate.validate(data, version, strict=True)


def validate(resource: RecordedResource, version: str = K8S_VERSION) -> str:
    """Rebuild and validate a recorded Kubernetes resource."""
    return validate_manifest(manifest(resource), version)
