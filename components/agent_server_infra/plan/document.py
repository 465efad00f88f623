"""The plan as a stable JSON document: same input, same bytes.

``resources`` is a list of ``{type, name, urn, parent, inputs, dependencies, protect}`` sorted by URN, inputs in the
engine's camelCase as the mocks saw them, secret values masked unless asked for; ``outputs`` are the stack
outputs; ``deployments`` the env and budget of each AgentServer, taken from its registered outputs, with a
fingerprint per secret variable (``secretEnvFingerprints``) so a diff can tell that a secret changed, and the URNs of
the stores it uses (``stores``), so a diff sums the budgets of one store.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
from pulumi.runtime import rpc

from .engine import SECRET, STACK_TYPE, RecordedResource, Recording, Secret

AGENT_SERVER = "agent-server-infra:index:AgentServer"
SCHEMA_VERSION = 1


def clean(value: Any, show_secrets: bool) -> Any:
    """Mask secrets (:class:`Secret` markers or the wire's secret envelopes), turn the wire format's integral
    floats back into ints, and make lists/dicts plain."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is dict:
        if _SIG in value and value[_SIG] == _SECRET_SIG:
            return clean(value.get("value"), show_secrets) if show_secrets else SECRET
        return {key if type(key) is str else str(key): clean(item, show_secrets) for key, item in value.items()}
    if kind is list:
        return [clean(item, show_secrets) for item in value]
    return _clean_other(value, show_secrets)


def _clean_other(value: Any, show_secrets: bool) -> Any:
    """:func:`clean` for everything but the exact JSON types (secret markers, subclasses, tuples, ints)."""
    if isinstance(value, Secret):
        return clean(value.value, show_secrets) if show_secrets else SECRET
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            return clean(rpc.unwrap_rpc_secret(value), show_secrets) if show_secrets else SECRET
        return {str(key): clean(item, show_secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item, show_secrets) for item in value]
    return value


_SIG, _SECRET_SIG = next((key, value) for key, value in rpc.wrap_rpc_secret(None).items() if key != "value")
"""The key and signature of the wire's secret envelope (``{<key>: <signature>, "value": ...}``)."""


def _parent(resource: RecordedResource) -> str | None:
    if resource.parent is None or resource.parent.split("::")[-2].endswith(STACK_TYPE):
        return None
    return resource.parent


def fingerprint(name: str, value: Any) -> str:
    """A short digest of a secret variable's value, so ``diff`` can say *that* it changed without showing it.

    A plan never holds a real secret: stack-file secrets are opaque placeholders and generated passwords are
    the mock engine's deterministic stand-ins, so the digest only moves when what the value is built from moves
    (a host, a database name, a user, a port, a secret key added or removed).
    """
    text = json.dumps(value, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(f"{name}={text}".encode()).hexdigest()[:12]


def _deployment(resource: RecordedResource, show_secrets: bool) -> dict[str, Any]:
    outputs = resource.registered_outputs
    secret_env = outputs.get("secret_env")
    names = outputs.get("secret_env_names") or []
    values = clean(secret_env.value, True) if isinstance(secret_env, Secret) else {}
    secrets = values if show_secrets and isinstance(secret_env, Secret) else dict.fromkeys(names, SECRET)
    alarms = clean(outputs.get("alarms") or [], show_secrets)
    stores = clean(outputs.get("stores") or {}, show_secrets)
    return {
        "name": resource.name,
        **({"alarms": alarms} if alarms else {}),
        **({"stores": stores} if stores else {}),
        "env": clean(outputs.get("plain_env") or {}, show_secrets),
        "secretEnv": secrets,
        "secretEnvFingerprints": {name: fingerprint(name, values[name]) for name in sorted(secrets)
                                  if name in values},
        "budget": clean(outputs.get("budget") or {}, show_secrets),
    }


def secret_paths(value: Any) -> list[str]:
    """Where ``value`` holds secrets (:class:`Secret` markers or secret envelopes), as ``diff`` spells paths."""
    from .diff import join_path  # only ``--show-secrets`` needs it; ``plan`` never loads the diff otherwise

    def walk(value: Any, path: str) -> list[str]:
        if isinstance(value, Secret) or rpc.is_rpc_secret(value):
            return [path or "(value)"]
        if isinstance(value, dict):
            return [found for key, item in value.items() for found in walk(item, join_path(path, str(key)))]
        if isinstance(value, list | tuple):
            return [found for index, item in enumerate(value) for found in walk(item, join_path(path, index))]
        return []

    return walk(value, "")


def to_document(recording: Recording, show_secrets: bool = False) -> dict[str, Any]:
    """The plan document. With ``show_secrets``, secret values are written out and their places are listed
    (``secretPaths`` per resource, ``secretOutputs``) so ``diff`` can still keep them out of its report."""
    resources = sorted(recording.resources, key=lambda resource: resource.urn)
    document = {
        "schemaVersion": SCHEMA_VERSION,
        "project": recording.project,
        "stack": recording.stack,
        "resources": [
            {
                "type": resource.type,
                "name": resource.name,
                "urn": resource.urn,
                "parent": _parent(resource),
                "inputs": clean(resource.wire_inputs, show_secrets),
                "dependencies": sorted(resource.dependencies),
                "protect": resource.protect,
            }
            for resource in resources
        ],
        "deployments": [_deployment(resource, show_secrets) for resource in resources
                        if resource.type == AGENT_SERVER],
        "outputs": clean(recording.outputs, show_secrets),
    }
    if show_secrets:
        for entry, resource in zip(document["resources"], resources, strict=True):
            if paths := secret_paths(resource.wire_inputs):
                entry["secretPaths"] = paths
        document["secretOutputs"] = secret_paths(recording.outputs)
    return document


def dumps(document: dict[str, Any]) -> str:
    """The document as stable text: sorted keys, two-space indent, a final newline.

    The layout of ``json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)``, written by orjson:
    the standard library indents in pure Python (0.05 s for a 50-server plan, a tenth of the plan's own cost
    per server). Floats may be spelt differently where Python uses an exponent (``1e-07`` against ``1e-7``);
    a plan's numbers are integral (counts, ports, sizes) and :func:`clean` writes those as integers. An integer
    beyond 64 bits, which orjson refuses, is written by the standard library.
    """
    try:
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    except orjson.JSONEncodeError:
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
