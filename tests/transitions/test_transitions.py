"""The transitions tier: before/after edits of the shipped stacks, each judged as `agent-server-infra diff` judges it.

Each case plans a shipped stack (or an edit of it) as it runs, plans the edit a team makes in its first months, and
asserts the effects the real providers give that change (``agent_server_infra.transitions``), whether the diff is
blocked, and which rule decided it: the finding that carries the decisive effect cites the rule's source. A rule
without a case, or a case whose rule moved, fails here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from agent_server_infra.plan.diff import PlanDiff, diff_documents
from agent_server_infra.transitions import BLOCKING, Effect, assess, budget, elasticache, kubernetes, rds, runtime
from tests.helpers import Changes, PlanDocument, Replace

RDS = "aws:rds/instance:Instance"
RDS_PARAMS = "aws:rds/parameterGroup:ParameterGroup"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_PARAMS = "aws:elasticache/parameterGroup:ParameterGroup"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71"
OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/00000000-1111-2222-3333-444444444444"
QUEUE_ON_CPU = {"replicas": 3, "maxReplicas": 12, "cpu": "2", "memory": "4Gi", "memoryLimit": "4Gi"}
QUEUE_ON_BACKLOG = {**QUEUE_ON_CPU, "autoscaling": "backlog"}


@dataclass(frozen=True)
class Case:
    """One change to a deployed stack: ``before`` (edits of the shipped ``stack``; ``None``: as shipped) → ``after``;
    the effects that must show per resource type, whether the diff is blocked, and the rule that decides it:
    ``(type, effect, source)``."""

    id: str
    stack: str
    after: Changes
    expect: dict[str, set[str]]
    blocked: bool
    rule: tuple[str, Effect, str]
    before: Changes | None = None
    absent: dict[str, set[str]] = field(default_factory=dict)


def _pg(**values: object) -> Changes:
    return {"postgres": values}


def _redis(**values: object) -> Changes:
    return {"redis": values}


def _merge(*changes: Changes) -> Changes:
    merged: Changes = {}
    for change in changes:
        for key, values in change.items():
            merged[key] = {**merged.get(key, {}), **values} if isinstance(values, dict) and not isinstance(
                values, Replace) and "secure" not in values else values
    return merged


NOW = _pg(applyImmediately=True)
REDIS_NOW = _redis(applyImmediately=True)

CASES: tuple[Case, ...] = (
    # 1. Postgres major upgrades
    Case("postgres-15-to-16-with-the-new-keys", "dev", _pg(engineVersion="16", allowMajorVersionUpgrade=True,
                                                          applyImmediately=True),
         {RDS: {"immediate", "restart"}, RDS_PARAMS: {"replace"}}, False, (RDS, "restart", rds.SETTINGS_GUIDE),
         before=_pg(engineVersion="15")),
    Case("postgres-15-to-16-without-them", "dev", _pg(engineVersion="16"), {RDS: {"fails"}}, True,
         (RDS, "fails", rds.UPGRADE_ERROR), before=_pg(engineVersion="15")),
    Case("postgres-major-allowed-but-deferred", "dev", _pg(engineVersion="16", allowMajorVersionUpgrade=True),
         {RDS: {"deferred", "fails"}}, True, (RDS, "fails", rds.PARAMETER_GROUP_GO), before=_pg(engineVersion="15")),
    Case("postgres-major-through-blue-green", "prod", _pg(blueGreenUpdate=True, engineVersion="17"),
         {RDS: {"immediate", "restart"}, RDS_PARAMS: {"replace"}}, False, (RDS, "restart", rds.BLUE_GREEN_GO),
         before=_pg(blueGreenUpdate=True), absent={RDS: {"deferred"}}),
    Case("blue-green-turned-on-with-the-major", "prod", _pg(blueGreenUpdate=True, engineVersion="17"),
         {RDS: {"fails"}}, True, (RDS, "fails", rds.BLUE_GREEN_REPLICATION)),
    Case("blue-green-turned-on", "prod", _pg(blueGreenUpdate=True), {RDS_PARAMS: {"needs-reboot"}}, False,
         (RDS_PARAMS, "needs-reboot", rds.PARAMETERS_GUIDE)),
    # 2. the budget while a change applies
    Case("class-upsize-deferred", "dev", _pg(instanceClass="db.r6g.large"), {RDS: {"deferred", "over-commit"}}, True,
         (RDS, "over-commit", budget.OVER_COMMIT_SOURCE)),
    Case("class-upsize-applied-immediately", "dev", _pg(instanceClass="db.r6g.large", applyImmediately=True),
         {RDS: {"immediate", "restart"}}, False, (RDS, "restart", rds.SETTINGS_GUIDE), before=NOW,
         absent={RDS: {"over-commit", "deferred"}}),
    Case("class-downsize-applied-immediately", "staging", _pg(instanceClass="db.t4g.medium", applyImmediately=True),
         {RDS: {"over-commit"}}, True, (RDS, "over-commit", budget.OVER_COMMIT_SOURCE), before=NOW),
    Case("class-downsize-deferred", "staging", _pg(instanceClass="db.t4g.medium"), {RDS: {"deferred", "restart"}},
         False, (RDS, "deferred", rds.SETTINGS_GUIDE), absent={RDS: {"over-commit"}}),
    Case("max-connections-raised", "dev", _pg(maxConnections=1000), {RDS_PARAMS: {"needs-reboot", "over-commit"}},
         True, (RDS_PARAMS, "over-commit", budget.OVER_COMMIT_SOURCE)),
    Case("max-connections-lowered", "dev", _pg(maxConnections=300), {RDS_PARAMS: {"needs-reboot"}}, False,
         (RDS_PARAMS, "needs-reboot", rds.PARAMETERS_GUIDE)),
    Case("storage-grown-deferred", "dev", _pg(allocatedStorageGb=30), {RDS: {"deferred"}}, False,
         (RDS, "deferred", rds.SETTINGS_GUIDE)),
    Case("multi-az-deferred", "dev", _pg(multiAz=True), {RDS: {"deferred"}}, False, (RDS, "deferred",
                                                                                    rds.SETTINGS_GUIDE)),
    # 8. accepted but impossible
    Case("storage-shrunk", "prod", _pg(maxAllocatedStorageGb=None, allocatedStorageGb=80), {RDS: {"fails"}}, True,
         (RDS, "fails", rds.STORAGE_GUIDE), before=_pg(maxAllocatedStorageGb=None)),
    Case("storage-shrunk-under-autoscaling", "prod", _pg(allocatedStorageGb=80), {RDS: {"immediate"}}, False,
         (RDS, "immediate", rds.INSTANCE_GO), absent={RDS: {"deferred", "fails"}}),
    Case("io1-with-provisioned-iops", "prod", _pg(storageType="io1", iops=3000), {RDS: {"deferred", "restart"}},
         False, (RDS, "deferred", rds.SETTINGS_GUIDE)),
    Case("minor-pinned-below-the-running-one", "dev", _pg(engineVersion="16.9", autoMinorVersionUpgrade=False),
         {RDS: {"fails"}}, True, (RDS, "fails", rds.ENGINE_VERSION_READ)),
    # 4. IAM database authentication
    Case("iam-on-deferred", "dev", {"postgres": {"iamAuthentication": True},
                                    "server": {"serverVersion": "0.12.12", "oidcProviderArn": OIDC}},
         {RDS: {"deferred", "fails"}}, True, (RDS, "fails", rds.SETTINGS_GUIDE)),
    Case("iam-on-applied-immediately", "dev", {"postgres": {"iamAuthentication": True, "applyImmediately": True},
                                               "server": {"serverVersion": "0.12.12", "oidcProviderArn": OIDC}},
         {RDS: {"immediate"}}, False, (RDS, "immediate", rds.SETTINGS_GUIDE), before=NOW),
    Case("iam-off", "staging", _pg(iamAuthentication=None), {RDS: {"deferred"}}, False,
         (RDS, "deferred", rds.SETTINGS_GUIDE)),
    # 5. Kubernetes replacements
    Case("namespace-moved", "prod", {"server": {"namespace": "agents-v2"}},
         {DEPLOYMENT: {"replace"}, SERVICE: {"replace", "disruption"}, INGRESS: {"replace", "disruption"},
          SERVICE_ACCOUNT: {"replace", "disruption"}}, False, (INGRESS, "disruption", kubernetes.ALB_DOCS)),
    Case("namespace-moved-under-iam-database-auth", "staging", {"server": {"namespace": "agents-staging-v2"}},
         {SERVICE_ACCOUNT: {"disruption", "fails"}}, True, (SERVICE_ACCOUNT, "fails", kubernetes.IRSA_DOCS)),
    # 6. deletes
    Case("rds-to-external", "prod", {"postgres": Replace(mode="external", maxConnections=500),
                                     "postgresUri": {"secure": "v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB="}},
         {RDS: {"data-loss", "fails"}}, True, (RDS, "fails", rds.DELETE_GO)),
    Case("elasticache-to-external", "dev", {"redis": Replace(mode="external", maxClients=10000),
                                            "redisUri": {"secure": "v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB="}},
         {GROUP: {"data-loss"}}, True, (GROUP, "data-loss", elasticache.DELETE_GO)),
    # 7. ElastiCache
    Case("redis-port", "dev", _redis(port=6380), {GROUP: {"replace-delete-first", "data-loss", "disruption"}}, True,
         (GROUP, "replace-delete-first", elasticache.DELETE_FIRST)),
    Case("redis-kms-key", "prod", _redis(kmsKeyId=OTHER_KEY), {GROUP: {"replace-delete-first", "data-loss",
                                                                       "fails"}},
         True, (GROUP, "replace-delete-first", elasticache.GROUP_GO)),
    Case("redis-to-valkey-deferred", "dev", _redis(engine="valkey", engineVersion="8.0"),
         {GROUP: {"deferred", "fails"}, CACHE_PARAMS: {"replace"}}, True,
         (GROUP, "fails", elasticache.PARAMETER_GROUP_GO)),
    Case("redis-to-valkey-applied-immediately", "dev", _redis(engine="valkey", engineVersion="8.0",
                                                              applyImmediately=True),
         {GROUP: {"immediate"}, CACHE_PARAMS: {"replace"}}, False, (GROUP, "immediate", elasticache.MODIFY_GUIDE),
         before=REDIS_NOW),
    Case("valkey-to-redis", "dev", _redis(engine="redis", engineVersion="7.1"),
         {GROUP: {"replace-delete-first", "data-loss"}}, True, (GROUP, "replace-delete-first", elasticache.GROUP_GO),
         before=_redis(engine="valkey", engineVersion="8.0")),
    Case("redis-6-to-7-deferred", "dev", _redis(engineVersion="7.1"), {GROUP: {"deferred", "fails"}}, True,
         (GROUP, "fails", elasticache.PARAMETER_GROUP_GO), before=_redis(engineVersion="6.2")),
    Case("redis-6-to-7-applied-immediately", "dev", _redis(engineVersion="7.1", applyImmediately=True),
         {GROUP: {"immediate"}}, False, (GROUP, "immediate", elasticache.MODIFY_GUIDE),
         before=_redis(engineVersion="6.2", applyImmediately=True)),
    Case("cluster-replicas-to-zero", "cluster", _redis(replicasPerShard=0), {GROUP: {"fails"}}, True,
         (GROUP, "fails", elasticache.UPDATE_ORDER)),
    Case("cluster-multi-az-off-first", "cluster", _redis(multiAz=False), {GROUP: {"immediate"}}, False,
         (GROUP, "immediate", elasticache.GROUP_GO)),
    Case("cluster-replicas-to-zero-after-multi-az-off", "cluster", _redis(multiAz=False, replicasPerShard=0),
         {GROUP: {"immediate"}}, False, (GROUP, "immediate", elasticache.UPDATE_ORDER), before=_redis(multiAz=False)),
    Case("last-replica-removed-deferred", "prod", _redis(replicas=0), {GROUP: {"fails"}}, True,
         (GROUP, "fails", elasticache.UPDATE_ORDER)),
    Case("last-replica-removed-immediately", "prod", _redis(replicas=0, applyImmediately=True),
         {GROUP: {"immediate"}}, False, (GROUP, "immediate", elasticache.UPDATE_ORDER), before=REDIS_NOW),
    Case("redis-node-type-deferred", "dev", _redis(nodeType="cache.t4g.medium"), {GROUP: {"deferred"}}, False,
         (GROUP, "deferred", elasticache.MODIFY_GUIDE)),
    Case("auth-token-rotated", "dev", _redis(authTokenVersion=1), {GROUP: {"immediate"}}, False,
         (GROUP, "immediate", elasticache.AUTH_GUIDE)),
    Case("auth-token-set-after-the-rotation", "dev", _redis(authTokenVersion=1, authTokenUpdateStrategy="SET"),
         {GROUP: {"immediate"}}, False, (GROUP, "immediate", elasticache.AUTH_GUIDE),
         before=_redis(authTokenVersion=1)),
    Case("auth-token-bumped-with-set", "dev", _redis(authTokenVersion=2, authTokenUpdateStrategy="SET"),
         {GROUP: {"fails", "disruption"}}, True, (GROUP, "fails", elasticache.AUTH_GUIDE),
         before=_redis(authTokenVersion=1, authTokenUpdateStrategy="SET")),
    Case("redis-auth-token-to-iam", "prod", {"redis": {"iamAuthentication": True}},
         {GROUP: {"disruption"}}, False, (GROUP, "disruption", elasticache.IAM_GUIDE)),
    # 9. runtime disruptions
    Case("redis-key-prefix", "dev", {"server": {"redisKeyPrefix": "dev2:"}}, {DEPLOYMENT: {"disruption"}}, False,
         (DEPLOYMENT, "disruption", runtime.SERVER_KEYS)),
    Case("mount-prefix", "prod", {"server": {"mountPrefix": "/agents"}}, {INGRESS: {"disruption"}}, False,
         (INGRESS, "disruption", runtime.MOUNT_SOURCE)),
    Case("queue-backlog-back-to-cpu", "prod", {"server": {"queue": Replace(QUEUE_ON_CPU)}}, {HPA: {"fails"}}, True,
         (HPA, "fails", runtime.KEDA_SOURCE)),
    # safe everyday changes
    Case("image", "prod", {"server": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/agents/support-bot:"
                                               "2026.12.01-77aa0e2"}},
         {DEPLOYMENT: {"immediate"}}, False, (DEPLOYMENT, "immediate", kubernetes.DIFF_GO),
         absent={DEPLOYMENT: {"replace", "disruption"}}),
    Case("jobs-per-worker", "prod", {"server": {"nJobsPerWorker": 5}}, {DEPLOYMENT: {"immediate"}}, False,
         (DEPLOYMENT, "immediate", kubernetes.DIFF_GO)),
    Case("replicas", "prod", {"server": {"api": {"replicas": 4, "maxReplicas": 10, "cpu": "2", "memory": "4Gi",
                                                 "memoryLimit": "4Gi"}}},
         {HPA: {"immediate"}}, False, (HPA, "immediate", kubernetes.DIFF_GO)),
    Case("ingress-host", "prod", {"server": {"ingress": {"host": "agents2.example.com", "className": "alb",
                                                         "scheme": "internet-facing", "certificateArn":
                                                         "arn:aws:acm:us-east-1:123456789012:certificate/"
                                                         "5d2c8a1e-7b3f-4c9d-a0e6-2f8b1c4d7e93"}}},
         {INGRESS: {"immediate"}}, False, (INGRESS, "immediate", kubernetes.DIFF_GO),
         absent={INGRESS: {"replace", "disruption"}}),
    Case("queue-cpu-to-backlog", "prod", {"server": {"queue": Replace(QUEUE_ON_BACKLOG)}},
         {SCALED_OBJECT: {"immediate"}, HPA: {"immediate"}}, False, (SCALED_OBJECT, "immediate", assess.CREATE_SOURCE),
         before={"server": {"queue": Replace(QUEUE_ON_CPU)}}),
    Case("log-level", "dev", {"server": {"logLevel": "INFO"}}, {DEPLOYMENT: {"immediate"}}, False,
         (DEPLOYMENT, "immediate", kubernetes.DIFF_GO)),
)


def transition(plan_document: PlanDocument, case: Case) -> PlanDiff:
    before = plan_document(case.stack, case.before)
    after = plan_document(case.stack, _merge(case.before or {}, case.after) if case.after else case.before)
    return diff_documents(before, after)


def effects_of(diff: PlanDiff, type_: str) -> set[str]:
    return {effect for item in diff.assessed if item.type == type_ for effect in item.effects}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_transition(case: Case, plan_document: PlanDocument) -> None:
    diff = transition(plan_document, case)
    for type_, effects in case.expect.items():
        assert effects <= effects_of(diff, type_), (type_, effects_of(diff, type_))
    for type_, effects in case.absent.items():
        assert not effects & effects_of(diff, type_), (type_, effects_of(diff, type_))
    assert diff.blocked() is case.blocked, diff.blocking()
    if not case.blocked:
        assert not {effect for item in diff.assessed for effect in item.effects} & BLOCKING
    type_, effect, source = case.rule
    decisive = [finding for item in diff.assessed if item.type == type_ for finding in item.findings
                if finding.effect == effect]
    assert decisive, f"no {effect} finding on {type_}"
    assert any(source in finding.source for finding in decisive), [finding.source for finding in decisive]
    if case.blocked:
        assert all(finding.way for item in diff.assessed for finding in item.findings
                   if finding.effect in BLOCKING), "every blocking finding shows the way through"


def test_there_are_forty_cases_at_least() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
