"""Kubernetes objects of a plan as the manifests the provider would send, for the tools teams already run on
what they apply (``kubectl diff``, kubeconform, kube-linter, admission scanners): ``plan STACK --manifests DIR``.

The mock engine records each object's inputs in engine camelCase, numbers as floats and secret values as
:class:`~agent_server_infra.plan.engine.Secret` markers. :func:`manifest` turns such a record back into the
object: apiVersion and kind from the type token, integral floats back to ints, the auto-generated name where
Pulumi names the object, and secret values masked unless asked for (a map keeps its keys, so a Secret still
validates).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .engine import RecordedResource, Secret, reveal

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


def _plain(value: Any, show_secrets: bool) -> Any:
    if isinstance(value, Secret):
        return _plain(reveal(value.value), show_secrets) if show_secrets else _mask(value.value)
    if isinstance(value, dict):
        return {key: _plain(item, show_secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, show_secrets) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifest(resource: RecordedResource, show_secrets: bool = False) -> dict[str, Any]:
    """The object as the API server would receive it (see the module docstring)."""
    api_version, kind = api_version_and_kind(resource.type)
    body = {key: _plain(value, show_secrets) for key, value in resource.inputs.items()
            if key not in ("apiVersion", "kind")}
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


def write_manifests(resources: Iterable[RecordedResource], directory: Path, show_secrets: bool = False,
                    ) -> list[Path]:
    """One ``<kind>-<namespace>-<name>.yaml`` per Kubernetes object in ``directory``; returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for resource in resources:
        if not resource.type.startswith("kubernetes:") or not resource.custom:
            continue
        data = manifest(resource, show_secrets)
        meta = data["metadata"]
        stem = "-".join(part for part in (data["kind"].lower(), meta.get("namespace"), meta.get("name")) if part)
        path = directory / f"{stem}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        written.append(path)
    return written
