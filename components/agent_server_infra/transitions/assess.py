"""Every change between two plans, judged: its action, its effects and why, by the rules of this package.

:func:`assess` takes the resources of two plan documents paired by URN (``plan/diff.py`` pairs them, a stack rename
mapped) and returns one :class:`Assessed` per resource that is created, deleted or changed. Rules of one resource come
from :mod:`.rds`, :mod:`.elasticache` and :mod:`.kubernetes`; the rules that relate several (the connection budget
while a change is applied, objects that collide under a new URN, what a changed variable does to running work) read
the whole documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import REPLACING, Action, Effect, Finding, blocking, effects_of, elasticache, kubernetes, rds
from .budget import capacity_findings
from .common import AGENT_SERVER, IAM_PROVIDER, RDS_INSTANCE, Pair, changed, config_key, environment
from .runtime import runtime_findings

RDS_PARAMETERS = "aws:rds/parameterGroup:ParameterGroup"
CACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_PARAMETERS = "aws:elasticache/parameterGroup:ParameterGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ROLE = "aws:iam/role:Role"
STORES = frozenset({RDS_INSTANCE, CACHE_GROUP})

REPLACED_BY: dict[str, tuple[tuple[str, ...], str]] = {
    "aws:rds/subnetGroup:SubnetGroup": (("name", "namePrefix"), "terraform-provider-aws internal/service/rds/"
                                                                "subnet_group.go: name ForceNew"),
    "aws:elasticache/subnetGroup:SubnetGroup": (("name",), "terraform-provider-aws internal/service/elasticache/"
                                                           "subnet_group.go: name ForceNew"),
    "aws:ec2/securityGroup:SecurityGroup": (("name", "namePrefix", "description", "vpcId"),
                                            "terraform-provider-aws internal/service/ec2/vpc_security_group.go: "
                                            "name, name_prefix, description and vpc_id ForceNew"),
    ROLE: (("name", "namePrefix", "path"), "terraform-provider-aws internal/service/iam/role.go: name, name_prefix "
                                           "and path ForceNew"),
    "aws:iam/rolePolicy:RolePolicy": (("name", "namePrefix", "role"), "terraform-provider-aws internal/service/iam/"
                                                                      "role_policy.go: name, name_prefix and role "
                                                                      "ForceNew"),
    "aws:cloudwatch/logGroup:LogGroup": (("name", "namePrefix"), "terraform-provider-aws internal/service/logs/"
                                                                 "group.go: name ForceNew"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (("name",), "terraform-provider-aws internal/service/cloudwatch/"
                                                          "metric_alarm.go: alarm_name ForceNew"),
}
"""Supporting AWS resources: the inputs whose change replaces them (auto-named or free to be created first)."""
RANDOM_SOURCE = "pulumi-random: every input of RandomPassword and RandomId forces replacement (RequiresReplace)"
UPDATE_SOURCE = ("Pulumi engine: a change to inputs the provider does not mark ForceNew is an in-place Update of the "
                 "resource during `pulumi up`")
CREATE_SOURCE = "Pulumi engine: a resource new in the program is created during `pulumi up`"
DELETE_SOURCE = "Pulumi engine: a resource gone from the program is deleted during `pulumi up`, after the creates"
PROTECT_SOURCE = ("Pulumi resource option `protect`: 'the resource cannot be deleted (or replaced) until protect is "
                  "set to false'")


@dataclass
class Assessed:
    """One resource's change: what Pulumi will do (``action``) and every finding about it."""

    urn: str
    type: str
    name: str
    action: Action
    findings: list[Finding] = field(default_factory=list)
    routine: bool = False
    """A replacement by design: an auto-named ConfigMap, Secret or Job gets a new name with new content, and the pods
    (or the bootstrap) roll onto it."""

    @property
    def effects(self) -> list[Effect]:
        return effects_of(self.findings)

    def blocking(self, allowed: Iterable[str] = ()) -> list[Effect]:
        return blocking(self.findings, allowed)

    def as_dict(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "action": self.action,
                "effects": list(self.effects), "reasons": [finding.as_dict() for finding in self.findings]}


def assess(pairs: Sequence[Pair], old_document: Mapping[str, Any], new_document: Mapping[str, Any]) -> list[Assessed]:
    """Judge every pair (creates, deletes and changes; a pair whose inputs and protection are equal is none)."""
    context = _Context(pairs, old_document, new_document)
    assessed: list[Assessed] = []
    for pair in pairs:
        judged = context.resource(pair)
        if judged is not None:
            assessed.append(judged)
    by_urn = {item.urn: item for item in assessed}
    for urn, finding in context.cross_findings(by_urn):
        if urn in by_urn:
            by_urn[urn].findings.append(finding)
    for item in assessed:
        new = context.by_new_urn[item.urn].new
        item.routine = item.effects == ["replace"] and item.type in kubernetes.ROLLING and new is not None and \
            kubernetes.identity(new) is None
    return assessed


class _Context:
    """The two documents, indexed for the rules that relate several resources."""

    def __init__(self, pairs: Sequence[Pair], old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.pairs = pairs
        self.old, self.new = old, new
        self.by_new_urn = {pair.urn: pair for pair in pairs}

    # ---------------------------------------------------------------------------------------- one resource

    def resource(self, pair: Pair) -> Assessed | None:
        source = pair.new if pair.new is not None else pair.old
        if source is None:  # neither side: nothing to judge
            return None
        type_, name = str(source["type"]), str(source["name"])
        if pair.old is None:
            return Assessed(pair.urn, type_, name, "create", [Finding("immediate", "created during `pulumi up`",
                                                                      source=CREATE_SOURCE)])
        if pair.new is None:
            return Assessed(pair.urn, type_, name, "delete", self._deleted(pair.old))
        old_inputs, new_inputs = pair.old.get("inputs") or {}, pair.new.get("inputs") or {}
        paths = changed(old_inputs, new_inputs)
        if type_ == CACHE_GROUP and self._token_rotated(pair.urn):
            paths.add("authToken")  # a secret: plans mask it, the rotation shows in its generator's keepers
        protect = bool(pair.old.get("protect")), bool(pair.new.get("protect"))
        if not paths and protect[0] == protect[1]:
            return None
        findings = self._updated(type_, pair, old_inputs, new_inputs, paths)
        replacing = any(finding.effect in REPLACING for finding in findings)  # no rule of several resources replaces
        if protect == (True, False):
            findings.append(Finding("immediate", "Pulumi `protect` true → false: `pulumi destroy` or a replacement "
                                    "may now delete it", source=PROTECT_SOURCE, weakens=True))
        elif protect == (False, True):
            findings.append(Finding("immediate", "Pulumi `protect` false → true", source=PROTECT_SOURCE))
        if pair.new.get("protect") and replacing:
            findings.append(Finding("fails", "the resource is protected: Pulumi refuses to replace it",
                                    "lift `protect` first (its section's protect: false), then make the change",
                                    PROTECT_SOURCE))
        return Assessed(pair.urn, type_, name, "replace" if replacing else "update", findings)

    def _updated(self, type_: str, pair: Pair, old: Mapping[str, Any], new: Mapping[str, Any],
                 paths: set[str]) -> list[Finding]:
        if not paths:
            return []
        if type_ == RDS_INSTANCE:
            findings = rds.instance_findings(old, new, paths)
            if any(f.effect == "replace-delete-first" for f in findings):
                findings += self._store_replaced(pair.old or {}, "database")
            return findings
        if type_ == RDS_PARAMETERS:
            return rds.parameter_group_findings(old, new, paths)
        if type_ == CACHE_GROUP:
            return elasticache.group_findings(old, new, paths)
        if type_ == CACHE_PARAMETERS:
            return elasticache.parameter_group_findings(old, new, paths)
        if type_.startswith("kubernetes:"):
            return kubernetes.object_findings(type_, old, new, list(pair.paths))
        if type_.startswith("random:"):
            return [Finding("replace", f"{', '.join(f'`{key}`' for key in sorted(paths))} changed: a new value is "
                            "generated", source=RANDOM_SOURCE)]
        keys, source = REPLACED_BY.get(type_, ((), ""))
        replaced = [key for key in keys if key in paths]
        if replaced:
            return [Finding("replace", f"{', '.join(f'`{key}`' for key in replaced)} changed: it is replaced (the "
                            "new one first, then what uses it is updated, then the old one is deleted)",
                            source=source)]
        return [Finding("immediate", "updated in place", source=UPDATE_SOURCE)]

    def _deleted(self, old: Mapping[str, Any]) -> list[Finding]:
        type_ = str(old["type"])
        findings: list[Finding] = [Finding("immediate", "deleted during `pulumi up`", source=DELETE_SOURCE)]
        if type_ in STORES:
            findings += self._store_replaced(old, "database" if type_ == RDS_INSTANCE else "cache", deleted=True)
        elif old.get("protect"):
            findings.append(Finding("fails", "the resource is protected: Pulumi refuses to delete it",
                                    "lift `protect` in an update first, then remove it", PROTECT_SOURCE))
        if type_ == kubernetes.NAMESPACE_TYPE:
            findings.append(Finding("disruption", "deleting a namespace deletes every object still in it",
                                    source=kubernetes.DIFF_GO))
        return findings

    def _store_replaced(self, old: Mapping[str, Any], what: str, deleted: bool = False) -> list[Finding]:
        """A store that goes away (deleted, or replaced delete-first): its data, and whatever refuses the delete."""
        inputs = old.get("inputs") or {}
        verb = "deleted" if deleted else "deleted for its replacement"
        findings = [Finding("data-loss", f"the {what} is {verb}: its data goes with it (a final snapshot keeps a "
                            "copy to restore from)", "keep it; if the data must move, restore the final snapshot into "
                            "the new store yourself and allow this deliberately (`--allow data-loss`)",
                            rds.DELETE_GO if old.get("type") == RDS_INSTANCE else elasticache.DELETE_GO)]
        if old.get("type") == RDS_INSTANCE and inputs.get("deletionProtection"):
            findings.append(Finding("fails", "deletion protection is on: AWS refuses the delete ('Cannot delete "
                                    "protected DB Instance'), after `pulumi up` has already moved what depended on it",
                                    f"two steps: first {config_key('postgres.deletionProtection')}: false (and "
                                    "protect: false) and `pulumi up`; then remove it", rds.DELETE_GO))
        if old.get("protect"):
            findings.append(Finding("fails", "the resource is protected: Pulumi refuses to delete it",
                                    "two steps: first set the store's protect: false and `pulumi up`; then remove it",
                                    PROTECT_SOURCE))
        return findings

    def _token_rotated(self, group_urn: str) -> bool:
        """Whether the AUTH token the group uses is generated anew (its RandomPassword is replaced)."""
        parent = (self.by_new_urn[group_urn].new or {}).get("parent")
        return any(pair.old is not None and pair.new is not None and pair.new["type"] == PASSWORD
                   and pair.new.get("parent") == parent and str(pair.new["name"]).endswith("-auth-token")
                   and changed(pair.old.get("inputs") or {}, pair.new.get("inputs") or {})
                   for pair in self.pairs)

    # ---------------------------------------------------------------------------------------- several resources

    def cross_findings(self, assessed: Mapping[str, Assessed]) -> list[tuple[str, Finding]]:
        found: list[tuple[str, Finding]] = []
        found += self._collisions()
        found += self._budgets(assessed)
        found += self._service_accounts()
        found += runtime_findings(self.old, self.new, self.pairs_by_type())
        return found

    def pairs_by_type(self) -> dict[str, list[Pair]]:
        grouped: dict[str, list[Pair]] = {}
        for pair in self.pairs:
            source = pair.new or pair.old
            if source is not None:
                grouped.setdefault(str(source["type"]), []).append(pair)
        return grouped

    def _collisions(self) -> list[tuple[str, Finding]]:
        deleted = {ident for pair in self.pairs if pair.new is None and pair.old is not None
                   and (ident := kubernetes.identity(pair.old)) is not None}
        return [(pair.urn, kubernetes.collision_finding(ident)) for pair in self.pairs
                if pair.old is None and pair.new is not None and (ident := kubernetes.identity(pair.new)) in deleted]

    def _service_accounts(self) -> list[tuple[str, Finding]]:
        roles_updated = any(pair.old is not None and pair.new is not None and pair.new["type"] == ROLE
                            and (pair.old.get("inputs") or {}).get("assumeRolePolicy")
                            != (pair.new.get("inputs") or {}).get("assumeRolePolicy") for pair in self.pairs)
        iam_database = any(IAM_PROVIDER in environment(deployment) for deployment in self.new.get("deployments") or [])
        found: list[tuple[str, Finding]] = []
        for pair in self.pairs:
            if pair.old is None or pair.new is None or pair.new["type"] != SERVICE_ACCOUNT:
                continue
            before = (pair.old.get("inputs") or {}).get("metadata") or {}
            after = (pair.new.get("inputs") or {}).get("metadata") or {}
            if before.get("namespace") != after.get("namespace"):
                found += [(pair.urn, finding) for finding in kubernetes.namespace_move_findings(
                    after.get("annotations") or {}, roles_updated, iam_database, str(after.get("namespace")))]
        return found

    def _budgets(self, assessed: Mapping[str, Assessed]) -> list[tuple[str, Finding]]:
        """Over-commit while an RDS instance's capacity changes (its class, or its max_connections parameter):
        when the change is applied decides which state to check (:func:`.budget.capacity_findings`, which also
        says whether the capacity changes at all)."""
        found: list[tuple[str, Finding]] = []
        for pair in self.pairs:
            if pair.old is None or pair.new is None or pair.new["type"] != RDS_INSTANCE:
                continue
            old_inputs, new_inputs = pair.old.get("inputs") or {}, pair.new.get("inputs") or {}
            parameters = _parameter_change(self.pairs, str(pair.new.get("parent") or ""))
            if parameters is not None:
                urn, later, now = parameters, "a reboot of the instance", False
            else:
                blue_green = bool((new_inputs.get("blueGreenUpdate") or {}).get("enabled"))
                now = bool(new_inputs.get("applyImmediately")) or blue_green
                urn, later = pair.urn, "the maintenance window"
                if old_inputs.get("instanceClass") == new_inputs.get("instanceClass"):
                    continue
            if urn in assessed:
                old_budgets = _postgres_budgets(self.old, str(pair.old.get("parent") or ""))
                new_budgets = _postgres_budgets(self.new, str(pair.new.get("parent") or ""))
                found += [(urn, finding) for finding in capacity_findings(old_budgets, new_budgets, later=later,
                                                                           applied_now=now)]
        return found


def _postgres_budgets(document: Mapping[str, Any], postgres_urn: str) -> list[Mapping[str, Any]]:
    """The Postgres budgets of the servers on the Postgres component ``postgres_urn`` (its own server's, and those
    of servers that name it among their stores)."""
    servers = {str(resource["urn"]): str(resource["name"]) for resource in document.get("resources") or []
               if resource["type"] == AGENT_SERVER}
    component = next((resource for resource in document.get("resources") or [] if resource["urn"] == postgres_urn),
                     None)
    owner = servers.get(str((component or {}).get("parent") or ""))
    budgets: list[Mapping[str, Any]] = []
    for deployment in document.get("deployments") or []:
        stores = deployment.get("stores") or {}
        uses = stores.get("postgres") == postgres_urn if stores else deployment.get("name") == owner
        budget = (deployment.get("budget") or {}).get("postgres")
        if uses and budget:
            budgets.append(budget)
    return budgets


def _parameter_change(pairs: Sequence[Pair], postgres_urn: str) -> str | None:
    """The URN of the Postgres component's parameter group when its ``max_connections`` changes."""
    for pair in pairs:
        if pair.old is None or pair.new is None or pair.new["type"] != RDS_PARAMETERS or \
                pair.new.get("parent") != postgres_urn:
            continue
        before = {item["name"]: item.get("value") for item in (pair.old.get("inputs") or {}).get("parameters") or []}
        after = {item["name"]: item.get("value") for item in (pair.new.get("inputs") or {}).get("parameters") or []}
        if before.get("max_connections") != after.get("max_connections"):
            return pair.urn
    return None
