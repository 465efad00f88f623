"""What changes between two plan documents (``plan --json``): resources, environment, budgets, and what each change
really does to a running stack.

``diff_documents(old, new)`` compares two documents produced by :func:`agent_server_infra.plan.document.to_document`
and returns a :class:`PlanDiff`; :mod:`agent_server_infra.plan.diff_markdown` shows it for a pull request and
:func:`safety_document` is its ``--json`` form. Resources are keyed by URN (a stack renamed between the two plans is
mapped, as ``pulumi stack rename`` rewrites every URN); a changed resource lists the input paths that differ
(``spec.template.spec.containers[0].image``). Secret values never appear: plan documents mask them, and a secret
variable is reported only as *changed* (its fingerprint moved), never with a value, even when a document was
written with ``--show-secrets``.

Every created, deleted or changed resource is judged by :mod:`agent_server_infra.transitions` (the providers' update
rules, each with its source): its action, its effects from one vocabulary (``immediate``, ``deferred``, ... ``fails``,
``over-commit``), the reasons and the way through. A diff is *blocked* when any change carries ``fails``,
``data-loss`` or ``over-commit`` that was not allowed deliberately.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..transitions import BLOCKING, Effect, blocking
from ..transitions.assess import Assessed, assess
from ..transitions.common import Pair, under

SCHEMA_VERSION = 1
"""The plan document schema this module reads: ``document.SCHEMA_VERSION``, spelled again so that ``diff`` loads
neither the mock engine nor Pulumi (a test keeps the two equal)."""
SECRET = "[secret]"


class PlanFileError(ValueError):
    """A file that is not a plan document (``agent-server-infra plan STACK --json PATH``)."""


@dataclass(frozen=True)
class InputChange:
    path: str
    before: Any
    after: Any
    kind: Literal["added", "removed", "changed"]


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    inputs: list[InputChange] = field(default_factory=list)
    protect: tuple[bool, bool] | None = None
    parent: tuple[str | None, str | None] | None = None
    dependencies_added: list[str] = field(default_factory=list)
    dependencies_removed: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        paths = [change.path for change in self.inputs]
        if self.protect is not None:
            paths.append("(protect)")
        if self.parent is not None:
            paths.append("(parent)")
        if self.dependencies_added or self.dependencies_removed:
            paths.append("(dependencies)")
        return paths


@dataclass(frozen=True)
class EnvChange:
    deployment: str
    role: str
    name: str
    kind: Literal["added", "removed", "changed"]
    before: str | None
    after: str | None
    secret: bool = False


@dataclass(frozen=True)
class BudgetChange:
    deployment: str
    store: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


@dataclass
class PlanDiff:
    old_label: str
    new_label: str
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)
    deployments_added: list[str] = field(default_factory=list)
    deployments_removed: list[str] = field(default_factory=list)
    env: list[EnvChange] = field(default_factory=list)
    secrets_maybe_changed: list[str] = field(default_factory=list)
    budgets: list[BudgetChange] = field(default_factory=list)
    outputs: list[InputChange] = field(default_factory=list)
    assessed: list[Assessed] = field(default_factory=list)
    """Every created, deleted or changed resource, judged (action, effects, reasons, the way through)."""
    renamed_stack: tuple[str, str] | None = None
    """``(old, new)`` when the two plans are of one project under two stack names (``pulumi stack rename``)."""

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.deployments_added
                     or self.deployments_removed or self.env or self.budgets or self.outputs)

    @property
    def replaced(self) -> set[str]:
        """URNs of the resources Pulumi replaces rather than updates in place."""
        return {item.urn for item in self.assessed if item.action == "replace"}

    def blocking(self, allowed: Iterable[str] = ()) -> list[Effect]:
        """The effects that block this diff (of :data:`~agent_server_infra.transitions.BLOCKING`, not allowed)."""
        return blocking((finding for item in self.assessed for finding in item.findings), allowed)

    def blocked(self, allowed: Iterable[str] = ()) -> bool:
        return bool(self.blocking(allowed))


# ------------------------------------------------------------------------------------------ loading


def load_plan(path: str | Path) -> dict[str, Any]:
    """Read a plan document. ``FileNotFoundError``/``OSError`` when unreadable, :class:`PlanFileError` when it is
    a directory or its content is not a plan document of a schema this version understands."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise PlanFileError(f"{path} is a directory, not a plan document") from None
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"{path}: not a plan document (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return check_plan(document, str(path))


def check_plan(document: Any, source: str = "plan") -> dict[str, Any]:
    if not isinstance(document, dict):
        raise PlanFileError(f"{source}: not a plan document (expected a JSON object)")
    missing = [key for key in ("resources", "deployments", "outputs") if key not in document]
    if missing:
        raise PlanFileError(f"{source}: not a plan document (missing {', '.join(missing)}); write one with "
                            "`agent-server-infra plan STACK --json PATH`")
    version = document.get("schemaVersion", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise PlanFileError(f"{source}: plan schema version {version}, this version reads {SCHEMA_VERSION}")
    resources = document["resources"]
    if not isinstance(resources, list) or not all(
        isinstance(item, dict) and {"type", "name", "urn", "inputs"} <= set(item) for item in resources
    ):
        raise PlanFileError(f"{source}: `resources` must be a list of {{type, name, urn, inputs, ...}}")
    if not isinstance(document["deployments"], list) or not isinstance(document["outputs"], dict):
        raise PlanFileError(f"{source}: `deployments` must be a list and `outputs` an object")
    return document


# ------------------------------------------------------------------------------------------ paths

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def join_path(base: str, key: str | int) -> str:
    """``spec`` + ``template`` → ``spec.template``; ``containers`` + 0 → ``containers[0]``; keys that are not
    identifiers (``app.kubernetes.io/name``) are quoted: ``labels["app.kubernetes.io/name"]``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{base}.{key}" if base else key
    return f"{base}[{json.dumps(key)}]"


def value_changes(before: Any, after: Any, path: str = "") -> list[InputChange]:
    """Leaf-level differences between two JSON values, as paths."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[InputChange] = []
        for key in sorted(set(before) | set(after)):
            sub = join_path(path, key)
            if key not in after:
                changes.append(InputChange(sub, before[key], None, "removed"))
            elif key not in before:
                changes.append(InputChange(sub, None, after[key], "added"))
            else:
                changes.extend(value_changes(before[key], after[key], sub))
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for index in range(max(len(before), len(after))):
            sub = join_path(path, index)
            if index >= len(after):
                changes.append(InputChange(sub, before[index], None, "removed"))
            elif index >= len(before):
                changes.append(InputChange(sub, None, after[index], "added"))
            else:
                changes.extend(value_changes(before[index], after[index], sub))
        return changes
    if before == after and type(before) is type(after):
        return []
    return [InputChange(path or "(value)", before, after, "changed")]


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


# ------------------------------------------------------------------------------------------ diff


def _by_urn(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {resource["urn"]: resource for resource in document["resources"]}


_SECRET_KEY = re.compile(r"^(password|masterPassword|authToken|stringData)$|Password$", re.IGNORECASE)
_SECRET_CONTENT = {"kubernetes:core/v1:Secret": ("data", "stringData")}


def _masked(changes: list[InputChange], paths: Iterable[str], type_: str = "") -> list[InputChange]:
    """``changes`` with every value at or under a secret path replaced by ``[secret]``.

    Secret paths are those a ``--show-secrets`` plan lists (``secretPaths``, ``secretOutputs``), the content of a
    Kubernetes Secret and any key named like a password or token: a plan written with secrets shown still yields
    a report without them."""
    prefixes = tuple(paths) + _SECRET_CONTENT.get(type_, ())

    def secret(path: str) -> bool:
        if any(under(path, prefix) for prefix in prefixes):
            return True
        return any(_SECRET_KEY.search(part) for part in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path))

    return [InputChange(item.path, None if item.before is None else SECRET, None if item.after is None else SECRET,
                        item.kind) if secret(item.path) else item for item in changes]


def _resource_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> ResourceChange | None:
    inputs = value_changes(old.get("inputs") or {}, new.get("inputs") or {})
    secret_paths = {*(old.get("secretPaths") or []), *(new.get("secretPaths") or [])}
    change = ResourceChange(urn=new["urn"], type=new["type"], name=new["name"],
                            inputs=_masked(inputs, secret_paths, new["type"]))
    if bool(old.get("protect")) != bool(new.get("protect")):
        change.protect = (bool(old.get("protect")), bool(new.get("protect")))
    if old.get("parent") != new.get("parent"):
        change.parent = (old.get("parent"), new.get("parent"))
    before, after = set(old.get("dependencies") or []), set(new.get("dependencies") or [])
    change.dependencies_added, change.dependencies_removed = sorted(after - before), sorted(before - after)
    return change if change.paths else None


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> PlanDiff:
    """Everything that differs from ``old`` to ``new``, each change judged."""
    result = PlanDiff(old_label=plan_label(old), new_label=plan_label(new))
    if old.get("project") == new.get("project") and old.get("stack") != new.get("stack"):
        result.renamed_stack = (str(old.get("stack")), str(new.get("stack")))
        old = renamed(old, *result.renamed_stack)
    before, after = _by_urn(old), _by_urn(new)
    result.added = [after[urn] for urn in sorted(set(after) - set(before))]
    result.removed = [before[urn] for urn in sorted(set(before) - set(after))]
    pairs: list[Pair] = []
    for urn in sorted(set(before) | set(after)):
        change = _resource_change(before[urn], after[urn]) if urn in before and urn in after else None
        if change is not None:
            result.changed.append(change)
        pairs.append(Pair(urn, before.get(urn), after.get(urn), tuple(item.path for item in change.inputs)
                          if change is not None else ()))
    _diff_deployments(result, old, new)
    outputs = value_changes(old.get("outputs") or {}, new.get("outputs") or {})
    secret_outputs = {*(old.get("secretOutputs") or []), *(new.get("secretOutputs") or [])}
    result.outputs = [change for change in _masked(outputs, secret_outputs)
                      if _top(change.path) not in {"plainEnv", "budget"}]  # reported per deployment
    result.assessed = assess(pairs, old, new)
    return result


def renamed(document: Mapping[str, Any], old_stack: str, new_stack: str) -> dict[str, Any]:
    """``document`` as ``pulumi stack rename OLD NEW`` leaves its state: every URN of stack ``old_stack`` rewritten
    to ``new_stack`` (the resources' own, their parents', their dependencies' and the stores the servers use)."""
    prefix, target = f"urn:pulumi:{old_stack}::", f"urn:pulumi:{new_stack}::"

    def urn(value: Any) -> Any:
        return target + value[len(prefix):] if isinstance(value, str) and value.startswith(prefix) else value

    resources = [{**resource, "urn": urn(resource["urn"]), "parent": urn(resource.get("parent")),
                  "dependencies": [urn(item) for item in resource.get("dependencies") or []]}
                 for resource in document["resources"]]
    deployments = [{**deployment, "stores": {kind: urn(value) for kind, value in (deployment.get("stores") or {})
                                             .items()}} if deployment.get("stores") else deployment
                   for deployment in document["deployments"]]
    return {**document, "resources": resources, "deployments": deployments, "stack": new_stack}


def safety_document(diff: PlanDiff, allowed: Iterable[str] = ()) -> dict[str, Any]:
    """The ``diff --json`` document: every change with its action, effects and reasons, and whether the diff is
    blocked (a change carries ``fails``, ``data-loss`` or ``over-commit`` not in ``allowed``)."""
    allowed = sorted(set(allowed))
    blocking_effects = diff.blocking(allowed)
    document: dict[str, Any] = {
        "old": diff.old_label, "new": diff.new_label,
        "changes": [item.as_dict() for item in diff.assessed],
        "blocked": bool(blocking_effects),
        "blocking": blocking_effects,
        "allowed": allowed,
        "blockingEffects": sorted(BLOCKING),
    }
    if diff.renamed_stack is not None:
        document["renamedStack"] = {"from": diff.renamed_stack[0], "to": diff.renamed_stack[1]}
    return document


def plan_label(document: Mapping[str, Any]) -> str:
    """``project/stack`` of a plan document."""
    return f"{document.get('project', '?')}/{document.get('stack', '?')}"


def _diff_deployments(result: PlanDiff, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    before = {deployment["name"]: deployment for deployment in old["deployments"]}
    after = {deployment["name"]: deployment for deployment in new["deployments"]}
    result.deployments_added = sorted(set(after) - set(before))
    result.deployments_removed = sorted(set(before) - set(after))
    for name in sorted(set(before) & set(after)):
        a, b = before[name], after[name]
        result.env.extend(_env_changes(name, a, b))
        if _secret_resource_changed(result, name) and not (a.get("secretEnvFingerprints")
                                                           and b.get("secretEnvFingerprints")):
            result.secrets_maybe_changed.append(name)
        budget_a, budget_b = a.get("budget") or {}, b.get("budget") or {}
        for store in sorted(set(budget_a) | set(budget_b)):
            if budget_a.get(store) != budget_b.get(store):
                result.budgets.append(BudgetChange(name, store, budget_a.get(store), budget_b.get(store)))


def _env_changes(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[EnvChange]:
    changes: list[EnvChange] = []
    env_a, env_b = old.get("env") or {}, new.get("env") or {}
    for role in sorted(set(env_a) | set(env_b)):
        vars_a, vars_b = env_a.get(role) or {}, env_b.get(role) or {}
        for var in sorted(set(vars_a) | set(vars_b)):
            a, b = vars_a.get(var), vars_b.get(var)
            if a == b:
                continue
            kind: Literal["added", "removed", "changed"] = (
                "added" if a is None else "removed" if b is None else "changed")
            changes.append(EnvChange(name, role, var, kind, a, b))
    secret_a, secret_b = old.get("secretEnv") or {}, new.get("secretEnv") or {}
    prints_a, prints_b = old.get("secretEnvFingerprints") or {}, new.get("secretEnvFingerprints") or {}
    for var in sorted(set(secret_a) | set(secret_b)):
        if var not in secret_b:
            changes.append(EnvChange(name, "all", var, "removed", SECRET, None, secret=True))
        elif var not in secret_a:
            changes.append(EnvChange(name, "all", var, "added", None, SECRET, secret=True))
        elif (var in prints_a and var in prints_b and prints_a[var] != prints_b[var]) or (
            secret_a[var] != SECRET and secret_b[var] != SECRET and secret_a[var] != secret_b[var]
        ):
            changes.append(EnvChange(name, "all", var, "changed", SECRET, SECRET, secret=True))
    return changes


def _secret_resource_changed(result: PlanDiff, deployment: str) -> bool:
    """Whether the Kubernetes Secret of a deployment changed (its generated name moves with its content)."""
    return any(change.type == "kubernetes:core/v1:Secret" and change.name.startswith(f"{deployment}-")
               for change in result.changed) or any(
        ref.path.endswith("secretRef.name") for change in result.changed
        if change.type.startswith("kubernetes:apps/") and change.name.startswith(f"{deployment}-")
        for ref in change.inputs)
