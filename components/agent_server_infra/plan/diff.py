"""What changes between two plan documents (``plan --json``): resources, environment, budgets, and what is risky.

``diff_documents(old, new)`` compares two documents produced by :func:`agent_server_infra.plan.document.to_document`
and returns a :class:`PlanDiff` (what changes, computed); :mod:`agent_server_infra.plan.diff_markdown` shows it
for a pull request. Resources are keyed by URN; a changed resource lists the input paths that differ
(``spec.template.spec.containers[0].image``). Secret values never appear: plan documents mask them, and a secret
variable is reported only as *changed* (its fingerprint moved), never with a value, even when a document was
written with ``--show-secrets``.

The warnings are the point of the PR comment: an input change that makes the provider **replace** the RDS instance
or the ElastiCache replication group (a new, empty store), a change that cannot be applied in place, and anything
that switches off a safety net (Pulumi ``protect``, deletion protection, final snapshots, backups) or deletes a
stateful resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
"""The plan document schema this module reads: ``document.SCHEMA_VERSION``, spelled again so that ``diff`` loads
neither the mock engine nor Pulumi (a test keeps the two equal)."""
SECRET = "[secret]"
RDS_INSTANCE = "aws:rds/instance:Instance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
STATEFUL: tuple[str, ...] = (RDS_INSTANCE, REPLICATION_GROUP)

# ------------------------------------------------------------------------------------ replacement rules
#
# pulumi-aws is bridged from the Terraform AWS provider: whether a change replaces a resource is decided by the
# upstream schema (``ForceNew: true``, or a ``CustomizeDiff`` that forces new), which the bridge applies at
# preview. Pulumi's own schema and the generated Python SDK do not carry that flag, so these tables cite the
# upstream schema (hashicorp/terraform-provider-aws, ``internal/service/rds/instance.go`` and
# ``internal/service/elasticache/replication_group.go``) and, where they say so, the SDK docstrings in
# ``pulumi_aws/rds/instance.py`` and ``pulumi_aws/elasticache/replication_group.py``.

RDS_FORCES_NEW: dict[str, str] = {
    # upstream schema: ForceNew
    "engine": "the engine cannot change in place",
    "dbName": "the initial database is created with the instance",
    "username": "the master user is created with the instance",
    "kmsKeyId": "the storage encryption key cannot change in place",
    "storageEncrypted": "encryption at rest cannot be switched on or off in place",
    "availabilityZone": "a single-AZ instance cannot move zones in place",
    "characterSetName": "SDK: \"This can't be changed\"",
    "ncharCharacterSetName": "SDK: \"This can't be changed\"",
    "timezone": "SDK: \"can only be set on creation\"",
    "snapshotIdentifier": "the instance is restored from a snapshot at creation",
    "restoreToPointInTime": "the instance is restored at creation",
    "s3Import": "the instance is imported at creation",
    "customIamInstanceProfile": "RDS Custom instance profile is set at creation",
}
"""RDS instance inputs whose change replaces the instance. ``identifier`` is not here: since provider v5 (upstream
#507, #31232) a new identifier renames the instance in place; that is a warning of its own (the endpoint moves)."""

RDS_CANNOT_CHANGE: dict[str, str] = {
    "performanceInsightsKmsKeyId": "SDK: \"Once KMS key is set, it can never be changed\"",
}

ELASTICACHE_FORCES_NEW: dict[str, str] = {
    # upstream schema: ForceNew
    "replicationGroupId": "the group's identifier cannot change in place",
    "atRestEncryptionEnabled": "encryption at rest is chosen at creation",
    "kmsKeyId": "the at-rest encryption key is chosen at creation",
    "subnetGroupName": "the subnet group is chosen at creation",
    "port": "the port is chosen at creation",
    "dataTieringEnabled": "data tiering is chosen at creation",
    "networkType": "the network type (IPv4/IPv6/dual stack) is chosen at creation",
    "globalReplicationGroupId": "joining a global datastore creates a new group",
    "securityGroupNames": "cache security group names are set at creation",
    "snapshotArns": "the group is seeded from RDB files at creation",
    "snapshotName": "SDK: \"Changing the snapshot_name forces a new resource\"",
    # upstream CustomizeDiff: ForceNewIf on meaningful changes of an explicit node group configuration
    "nodeGroupConfigurations": "explicit node group (shard) configuration changed",
}

SUPPORTING_FORCES_NEW: dict[str, dict[str, str]] = {
    # upstream schema: aws_db_parameter_group / aws_elasticache_parameter_group family, name and description are
    # ForceNew; aws_db_subnet_group / aws_elasticache_subnet_group name is ForceNew. A replaced group is created
    # anew and the store is modified to use it (for RDS, a parameter group of a new family comes with a major
    # engine upgrade).
    "aws:rds/parameterGroup:ParameterGroup": {"family": "", "name": "", "namePrefix": "", "description": ""},
    "aws:elasticache/parameterGroup:ParameterGroup": {"family": "", "name": "", "description": ""},
    "aws:rds/subnetGroup:SubnetGroup": {"name": "", "namePrefix": ""},
    "aws:elasticache/subnetGroup:SubnetGroup": {"name": ""},
    # upstream schema: aws_security_group name, name_prefix, description and vpc_id are ForceNew.
    "aws:ec2/securityGroup:SecurityGroup": {"name": "", "namePrefix": "", "description": "", "vpcId": ""},
}

Severity = Literal["delete", "replace", "fails", "protection", "replace-supporting", "caution"]
SEVERITY_TITLES: dict[Severity, str] = {
    "delete": "deletes a stateful resource",
    "replace": "forces replacement of a store (a new, empty database or cache)",
    "fails": "cannot be applied in place (`pulumi up` fails or needs manual steps)",
    "protection": "switches off a safety net",
    "replace-supporting": "replaces a parameter, subnet or security group of a store (the store is then modified)",
    "caution": "applies in place, with side effects",
}
SEVERITY_ORDER: tuple[Severity, ...] = ("delete", "replace", "fails", "protection", "replace-supporting", "caution")
SEVERE: frozenset[Severity] = frozenset({"delete", "replace", "fails"})


class PlanFileError(ValueError):
    """A file that is not a plan document (``agent-server-infra plan STACK --json PATH``)."""


@dataclass(frozen=True)
class Risk:
    severity: Severity
    type: str
    name: str
    message: str


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
    warnings: list[Risk] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)
    """URNs of changed resources that are replaced rather than updated in place."""

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.deployments_added
                     or self.deployments_removed or self.env or self.budgets or self.outputs)


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
        if any(path == prefix or path.startswith((prefix + ".", prefix + "[")) for prefix in prefixes):
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
    """Everything that differs from ``old`` to ``new``, and the warnings it deserves."""
    result = PlanDiff(old_label=plan_label(old), new_label=plan_label(new))
    before, after = _by_urn(old), _by_urn(new)
    result.added = [after[urn] for urn in sorted(set(after) - set(before))]
    result.removed = [before[urn] for urn in sorted(set(before) - set(after))]
    for urn in sorted(set(before) & set(after)):
        change = _resource_change(before[urn], after[urn])
        if change is not None:
            result.changed.append(change)
    _diff_deployments(result, old, new)
    outputs = value_changes(old.get("outputs") or {}, new.get("outputs") or {})
    secret_outputs = {*(old.get("secretOutputs") or []), *(new.get("secretOutputs") or [])}
    result.outputs = [change for change in _masked(outputs, secret_outputs)
                      if _top(change.path) not in {"plainEnv", "budget"}]  # reported per deployment
    result.warnings = warnings_for(result, before, after)
    replacing = {"replace", "replace-supporting"}
    replaced_names = {(risk.type, risk.name) for risk in result.warnings if risk.severity in replacing}
    result.replaced = {change.urn for change in result.changed
                       if (change.type, change.name) in replaced_names or _rolls_by_name(change, after[change.urn])}
    return result


def _rolls_by_name(change: ResourceChange, resource: Mapping[str, Any]) -> bool:
    """An auto-named ConfigMap or Secret whose data changes gets a new name: Pulumi replaces it (create, then
    delete), and the pods that reference it roll."""
    if change.type not in {"kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Secret"}:
        return False
    named = bool(((resource.get("inputs") or {}).get("metadata") or {}).get("name"))
    return not named and any(_top(item.path) in {"data", "stringData", "binaryData"} for item in change.inputs)


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


# ------------------------------------------------------------------------------------------ warnings


def _major(version: Any) -> int | None:
    match = re.match(r"^(\d+)", str(version or ""))
    return int(match.group(1)) if match else None


def _version_tuple(version: Any) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", str(version or "")))


def _downgrade(old: Any, new: Any) -> bool:
    """Whether ``new`` is below ``old`` in the parts both name: ``16.8`` → ``16`` only stops pinning the minor
    (a major alone is a prefix the provider matches the running version against), ``16.8`` → ``15`` goes down."""
    before, after = _version_tuple(old), _version_tuple(new)
    return after < before[:len(after)]


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _top_changes(change: ResourceChange) -> dict[str, InputChange]:
    """The changed top-level inputs of a resource (one entry per input, the first leaf that changed)."""
    tops: dict[str, InputChange] = {}
    for item in change.inputs:
        top = _top(item.path)
        tops.setdefault(top, item)
    return tops


def _inputs_value(resource: Mapping[str, Any], key: str) -> Any:
    return (resource.get("inputs") or {}).get(key)


def _switched_off(old: Mapping[str, Any], new: Mapping[str, Any], key: str) -> bool:
    """A retention count that was positive and is now 0 or unset (backups or snapshots off)."""
    return (_inputs_value(old, key) or 0) > 0 and (_inputs_value(new, key) or 0) == 0


def _forced_replacements(table: Mapping[str, str], tops: Mapping[str, InputChange], old: Mapping[str, Any],
                         new: Mapping[str, Any], warn: Callable[[Severity, str], Risk]) -> Iterable[Risk]:
    """One ``replace`` risk per changed input that the provider's schema marks ForceNew."""
    for key, why in table.items():
        if key in tops:
            yield warn("replace", f"`{key}` {_show(_inputs_value(old, key))} → {_show(_inputs_value(new, key))} "
                                  f"forces replacement: {why}")


def _rds_warnings(change: ResourceChange, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterable[Risk]:
    tops = _top_changes(change)

    def warn(severity: Severity, message: str) -> Risk:
        return Risk(severity, change.type, change.name, message)

    yield from _forced_replacements(RDS_FORCES_NEW, tops, old, new, warn)
    for key, why in RDS_CANNOT_CHANGE.items():
        if key in tops and _inputs_value(old, key) is not None:
            yield warn("fails", f"`{key}` cannot change once set ({why})")
    if "engineVersion" in tops:
        a, b = _inputs_value(old, "engineVersion"), _inputs_value(new, "engineVersion")
        if _downgrade(a, b):
            yield warn("fails", f"`engineVersion` {_show(a)} → {_show(b)} is a downgrade: RDS cannot downgrade in "
                                "place; only a restore into a new instance can")
        elif _major(a) != _major(b):
            allowed = bool(_inputs_value(new, "allowMajorVersionUpgrade"))
            tail = ("it upgrades in place with an outage" if allowed else
                    "this stack sets `allowMajorVersionUpgrade: false`, so `pulumi up` fails until the upgrade "
                    "is allowed (or run as a blue/green deployment)")
            yield warn("fails" if not allowed else "caution",
                       f"`engineVersion` {_show(a)} → {_show(b)} is a major upgrade: {tail}; the parameter group "
                       "family changes with it")
    if "identifier" in tops:
        yield warn("caution", f"`identifier` {_show(_inputs_value(old, 'identifier'))} → "
                              f"{_show(_inputs_value(new, 'identifier'))} renames the instance in place: its "
                              "endpoint changes and it reboots")
    if _inputs_value(old, "deletionProtection") is True and _inputs_value(new, "deletionProtection") is not True:
        yield warn("protection", "`deletionProtection` true → false: the database can be deleted")
    if _inputs_value(old, "skipFinalSnapshot") is not True and _inputs_value(new, "skipFinalSnapshot") is True:
        yield warn("protection", "`skipFinalSnapshot` false → true: deleting the instance keeps no final snapshot")
    if _inputs_value(old, "deleteAutomatedBackups") is False and _inputs_value(new, "deleteAutomatedBackups") in {
        True, None}:
        yield warn("protection", "`deleteAutomatedBackups` → true: automated backups go with the instance")
    if _switched_off(old, new, "backupRetentionPeriod"):
        yield warn("protection", "`backupRetentionPeriod` → 0: automated backups are switched off")


def _elasticache_warnings(change: ResourceChange, old: Mapping[str, Any],
                          new: Mapping[str, Any]) -> Iterable[Risk]:
    tops = _top_changes(change)

    def warn(severity: Severity, message: str) -> Risk:
        return Risk(severity, change.type, change.name, message)

    yield from _forced_replacements(ELASTICACHE_FORCES_NEW, tops, old, new, warn)
    if "engine" in tops:
        a, b = _inputs_value(old, "engine") or "redis", _inputs_value(new, "engine") or "redis"
        if (a, b) == ("redis", "valkey"):
            yield warn("caution", "`engine` redis → valkey upgrades in place (the one engine change that does)")
        else:
            yield warn("replace", f"`engine` {_show(a)} → {_show(b)} forces replacement (upstream: only "
                                  "redis → valkey is in place)")
    if "engineVersion" in tops:
        a, b = _inputs_value(old, "engineVersion"), _inputs_value(new, "engineVersion")
        if _downgrade(a, b):
            yield warn("replace", f"`engineVersion` {_show(a)} → {_show(b)} is a downgrade, which forces "
                                  "replacement (upstream CustomizeDiff)")
    if "transitEncryptionEnabled" in tops and _version_tuple(_inputs_value(old, "engineVersion")) < (7, 0, 5):
        yield warn("replace", "`transitEncryptionEnabled` changes on an engine older than 7.0.5, which forces "
                              "replacement (SDK: only configurable at creation before 7.0.5)")
    if "clusterMode" in tops:
        a, b = _inputs_value(old, "clusterMode") or "disabled", _inputs_value(new, "clusterMode") or "disabled"
        if a == "enabled":
            yield warn("fails", f"`clusterMode` {a} → {b}: ElastiCache migrates only towards cluster mode "
                                "(disabled → compatible → enabled); leaving it needs a new group")
        elif (a, b) == ("disabled", "enabled"):
            yield warn("fails", "`clusterMode` disabled → enabled must pass through `compatible` (clients must "
                                "support cluster mode first)")
        else:
            yield warn("caution", f"`clusterMode` {a} → {b}: an online migration; clients must speak cluster mode")
    if "nodeType" in tops:
        a, b = str(_inputs_value(old, "nodeType") or ""), str(_inputs_value(new, "nodeType") or "")
        tiering_a, tiering_b = _data_tiering(a), _data_tiering(b)
        if tiering_a != tiering_b:
            yield warn("replace", f"`nodeType` {a} → {b} moves {'off' if tiering_a else 'onto'} data-tiering "
                                  "(r6gd) nodes, which needs `dataTieringEnabled` to change: a replacement")
        else:
            yield warn("caution", f"`nodeType` {a} → {b} scales the nodes online (minutes of reduced capacity)")
    if _inputs_value(old, "finalSnapshotIdentifier") and not _inputs_value(new, "finalSnapshotIdentifier"):
        yield warn("protection", "`finalSnapshotIdentifier` removed: deleting the group keeps no final snapshot")
    if _switched_off(old, new, "snapshotRetentionLimit"):
        yield warn("protection", "`snapshotRetentionLimit` → 0: automatic snapshots are switched off")


def _data_tiering(node_type: str) -> bool:
    """``cache.r6gd.xlarge``: the ``d`` families keep data on local SSD (data tiering)."""
    family = node_type.split(".")[1] if node_type.count(".") >= 2 else ""
    return family.endswith("d") and family[:1] == "r"


def _supporting_warnings(change: ResourceChange, old: Mapping[str, Any],
                         new: Mapping[str, Any]) -> Iterable[Risk]:
    rules = SUPPORTING_FORCES_NEW.get(change.type, {})
    tops = _top_changes(change)
    for key in rules:
        if key in tops:
            yield Risk("replace-supporting", change.type, change.name,
                       f"`{key}` {_show(_inputs_value(old, key))} → {_show(_inputs_value(new, key))} forces "
                       "replacement of this group; the store is then modified to use the new one")


WARNING_RULES: dict[str, Callable[[ResourceChange, Mapping[str, Any], Mapping[str, Any]], Iterable[Risk]]] = {
    RDS_INSTANCE: _rds_warnings,
    REPLICATION_GROUP: _elasticache_warnings,
    **dict.fromkeys(SUPPORTING_FORCES_NEW, _supporting_warnings),
}


SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def _backlog_to_cpu(result: PlanDiff) -> Iterable[Risk]:
    """A queue going from backlog (KEDA) back to CPU scaling: Pulumi creates the new HPA before it deletes the
    ScaledObject, whose HPA has the same name (the other direction is one update: KEDA adopts the old HPA)."""
    keda_hpas = {str(((resource.get("inputs") or {}).get("spec") or {}).get("advanced", {})
                     .get("horizontalPodAutoscalerConfig", {}).get("name"))
                 for resource in result.removed if resource["type"] == SCALED_OBJECT}
    for resource in result.added:
        name = ((resource.get("inputs") or {}).get("metadata") or {}).get("name")
        if resource["type"] == HPA and name in keda_hpas:
            yield Risk("fails", resource["type"], resource["name"],
                       f"is created while KEDA's HPA `{name}` of the removed ScaledObject still exists (Pulumi "
                       "deletes last): the create conflicts with it. Switch in two updates: first without "
                       "autoscaling (`queue.maxReplicas` unset), then with `autoscaling: cpu`")


def warnings_for(result: PlanDiff, before: Mapping[str, Mapping[str, Any]],
                 after: Mapping[str, Mapping[str, Any]]) -> list[Risk]:
    found: list[Risk] = list(_backlog_to_cpu(result))
    for resource in result.removed:
        if resource["type"] in STATEFUL:
            found.append(Risk("delete", resource["type"], resource["name"],
                                 "is removed: `pulumi up` deletes it" + (
                                     " (it is protected, so the update fails until `protect` is lifted)"
                                     if resource.get("protect") else "")))
    for change in result.changed:
        rule = WARNING_RULES.get(change.type)
        if rule is not None:
            found.extend(rule(change, before[change.urn], after[change.urn]))
        if change.protect == (True, False):
            found.append(Risk("protection", change.type, change.name,
                                 "Pulumi `protect` true → false: `pulumi destroy` or a replacement may delete it"))
    order = {severity: index for index, severity in enumerate(SEVERITY_ORDER)}
    return sorted(found, key=lambda warning: (order[warning.severity], warning.type, warning.name))
