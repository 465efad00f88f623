"""Rebuild Kubernetes manifests from recorded resources and validate them with ``kubernetes-validate``.

:func:`manifest` is the package's own (:mod:`agent_server_infra.plan.manifests`, what ``plan --manifests``
writes); :func:`validate` checks it against the strict (no unknown fields) OpenAPI schema of the newest Kubernetes
version ``kubernetes-validate`` bundles.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from agent_server_infra.plan import manifests as plan_manifests
from agent_server_infra.plan.engine import RecordedResource

K8S_VERSION: str = kubernetes_validate.latest_version()
"""The newest Kubernetes version whose schemas ``kubernetes-validate`` bundles."""


def manifest(resource: RecordedResource) -> dict[str, Any]:
    """The object as the API server would receive it, secrets masked (``plan --manifests``' own builder)."""
    return plan_manifests.manifest(resource)


api_version_and_kind = plan_manifests.api_version_and_kind


def validate_manifest(data: dict[str, Any], version: str = K8S_VERSION) -> str:
    """Validate one manifest strictly; returns the schema version used, raises ``ValidationError``."""
    return kubernetes_validate.validate(data, version, strict=True)


def validate(resource: RecordedResource, version: str = K8S_VERSION) -> str:
    """Rebuild and validate a recorded Kubernetes resource."""
    return validate_manifest(manifest(resource), version)
