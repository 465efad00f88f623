"""What the transition rules share: an input's value and how its change reads in a message, a config key, who
contains whom, engine versions, a parameter group's replacement."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import Finding

NAMESPACE = "agent-server"
AGENT_SERVER = "agent-server-infra:index:AgentServer"
RDS_INSTANCE = "aws:rds/instance:Instance"
IAM_PROVIDER = "AGENT_POSTGRES_IAM_AUTH_PROVIDER"
"""The server variable that turns Postgres IAM authentication on."""


@dataclass(frozen=True)
class Pair:
    """A resource in the old and the new plan (``None`` where it does not exist), with its changed input paths."""

    urn: str
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    paths: tuple[str, ...] = ()


def value(inputs: Mapping[str, Any], key: str) -> Any:
    """The input ``key`` of a resource's inputs (``None`` when unset)."""
    return inputs.get(key)


def show(item: Any) -> str:
    """``item`` as a message shows it: ``(unset)``, text as it is, anything else as compact JSON (60 characters)."""
    if item is None:
        return "(unset)"
    text = item if isinstance(item, str) else json.dumps(item, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def under(path: str, prefix: str) -> bool:
    """Whether the input path ``path`` (``spec.selector.matchLabels``, ``data["key"]``) is ``prefix`` or inside it."""
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def change_text(old: Mapping[str, Any], new: Mapping[str, Any], key: str) -> str:
    """The change of the input ``key`` as a message shows it: ```instanceClass` db.t4g.medium → db.r6g.large``."""
    return f"`{key}` {show(value(old, key))} → {show(value(new, key))}"


def parameter_group_replacement(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str],
                                keys: tuple[str, ...], user: str, source: str) -> list[Finding]:
    """A parameter group replaced because one of its ForceNew ``keys`` changed: auto-named, the new one is created
    first, ``user`` (the instance, the cache) moves to it, the old one is deleted last. Nothing when none changed."""
    replaced = [key for key in keys if key in paths]
    if not replaced:
        return []
    return [Finding("replace", ", ".join(change_text(old, new, key) for key in replaced) + " replaces the parameter "
                    f"group: the new one is created, {user} moves to it, the old one is deleted last", source=source)]


def config_key(path: str) -> str:
    """``postgres.applyImmediately`` as a stack file names it: ``agent-server:postgres.applyImmediately``."""
    return f"{NAMESPACE}:{path}"


def changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    """The top-level inputs whose values differ (added and removed ones included)."""
    return {key for key in set(old) | set(new) if old.get(key) != new.get(key)}


def version_parts(version: str) -> tuple[int, ...]:
    """The numeric parts of an engine version: ``16.8`` → ``(16, 8)``, ``16`` → ``(16,)``."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def downgrade(before: Any, after: Any) -> bool:
    """Whether the engine version ``after`` is below ``before`` in the parts both name (``16.8`` → ``16`` only stops
    pinning the minor; an unset version names none)."""
    a, b = version_parts(str(after or "")), version_parts(str(before or ""))
    return a < b[:len(a)]


def environment(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The variables of a plan document's deployment, its roles' (``api``, ``queue``) merged."""
    merged: dict[str, str] = {}
    for variables in (deployment.get("env") or {}).values():
        merged.update(variables or {})
    return merged


def parent_map(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The parent URN of each resource of a plan document, by its URN (``None`` for a root)."""
    return {str(resource["urn"]): resource.get("parent") for resource in resources}


def descends(parents: Mapping[str, Any], urn: str, ancestor: str) -> bool:
    """Whether ``ancestor`` contains ``urn`` (its parent, its parent's parent, ...) in ``parents``
    (:func:`parent_map`)."""
    parent = parents.get(urn)
    while parent:
        if parent == ancestor:
            return True
        parent = parents.get(str(parent))
    return False
