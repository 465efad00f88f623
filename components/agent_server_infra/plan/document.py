"""The plan as a stable JSON document: same input, same bytes.

``resources`` is a list of ``{type, name, urn, parent, inputs, dependencies, protect}`` sorted by URN, inputs in the
engine's camelCase as the mocks saw them, secret values masked unless asked for; ``outputs`` are the stack
outputs; ``deployments`` the env and budget of each AgentServer, taken from its registered outputs.
"""

from __future__ import annotations

import json
from typing import Any

from .engine import SECRET, RecordedResource, Recording, Secret

AGENT_SERVER = "agent-server-infra:index:AgentServer"
STACK_TYPE = "pulumi:pulumi:Stack"
SCHEMA_VERSION = 1


def clean(value: Any, show_secrets: bool) -> Any:
    """Mask secrets, turn the wire format's integral floats back into ints, and make lists/dicts plain."""
    if isinstance(value, Secret):
        return clean(value.value, show_secrets) if show_secrets else SECRET
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): clean(item, show_secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item, show_secrets) for item in value]
    return value


def _parent(resource: RecordedResource) -> str | None:
    if resource.parent is None or resource.parent.split("::")[-2].endswith(STACK_TYPE):
        return None
    return resource.parent


def _deployment(resource: RecordedResource, show_secrets: bool) -> dict[str, Any]:
    outputs = resource.registered_outputs
    secret_env = outputs.get("secret_env")
    names = outputs.get("secret_env_names") or []
    if show_secrets and isinstance(secret_env, Secret):
        secrets = clean(secret_env.value, True)
    else:
        secrets = dict.fromkeys(names, SECRET)
    return {
        "name": resource.name,
        "env": clean(outputs.get("plain_env") or {}, show_secrets),
        "secretEnv": secrets,
        "budget": clean(outputs.get("budget") or {}, show_secrets),
    }


def to_document(recording: Recording, show_secrets: bool = False) -> dict[str, Any]:
    resources = sorted(recording.resources, key=lambda resource: resource.urn)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "project": recording.project,
        "stack": recording.stack,
        "resources": [
            {
                "type": resource.type,
                "name": resource.name,
                "urn": resource.urn,
                "parent": _parent(resource),
                "inputs": clean(resource.inputs, show_secrets),
                "dependencies": sorted(resource.dependencies),
                "protect": resource.protect,
            }
            for resource in resources
        ],
        "deployments": [_deployment(resource, show_secrets) for resource in resources
                        if resource.type == AGENT_SERVER],
        "outputs": clean(recording.outputs, show_secrets),
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
