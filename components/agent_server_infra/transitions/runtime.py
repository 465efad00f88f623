"""What a change does to the running Agent Server, read from the environment each plan renders.

The server decides what a changed variable does to work in flight (``langgraph-api`` reads its key prefix for every
stream, cancel signal and queue key; its mount prefix for every route and the health check), and the order in which
``pulumi up`` applies the store and the pods decides whether the pods can still log in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..bootstrap import VERSION_LABEL as BOOTSTRAP_VERSION_LABEL
from . import Finding
from .common import AGENT_SERVER, IAM_PROVIDER, RDS_INSTANCE, Pair, config_key, descends, environment, parent_map
from .kubernetes import ALB_DOCS
from .rds import SETTINGS_GUIDE

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
JOB = "kubernetes:batch/v1:Job"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
MEMBERSHIP_BOOTSTRAP = 2
"""The bootstrap version from which the Job makes the master a member of the IAM user (the owner of the server's
tables), so that the master can run the server again when IAM authentication is turned off."""

SERVER_KEYS = ("langgraph-api langgraph_api/config (REDIS_KEY_PREFIX prefixes the queue's, streams' and cancel "
               "signals' keys) and the key names of the runtime's stream and signal keys; the cache keeps keys under "
               "noeviction (redis.redis_parameters)")
MOUNT_SOURCE = ("langgraph-api langgraph_api/server.py (MOUNT_PREFIX mounts every route, /ok included); the Ingress "
                "path and the ALB health check follow it (workload.alb_annotations)")
BOOTSTRAP_SOURCE = ("agent_server_infra.bootstrap: the Job that makes the IAM user (version 2 also grants the master "
                    "membership in it); PostgreSQL 'ALTER TABLE' and 'Role Membership': only an owner, or a member "
                    "of the owning role, may alter a table")
KEDA_SOURCE = ("KEDA ScaledObject: its HPA keeps the name of the CPU HPA it adopted "
               "(scaledobject.keda.sh/transfer-hpa-ownership); Pulumi creates before it deletes")


def runtime_findings(old: Mapping[str, Any], new: Mapping[str, Any],
                     pairs: Mapping[str, Sequence[Pair]]) -> list[tuple[str, Finding]]:
    found: list[tuple[str, Finding]] = []
    old_deployments = {str(d["name"]): d for d in old.get("deployments") or []}
    new_deployments = {str(d["name"]): d for d in new.get("deployments") or []}
    servers = {str(pair.new["name"]): pair.urn for pair in pairs.get(AGENT_SERVER, []) if pair.new is not None}
    old_parents, new_parents = parent_map(old.get("resources") or []), parent_map(new.get("resources") or [])
    for name in sorted(set(old_deployments) & set(new_deployments)):
        before, after = environment(old_deployments[name]), environment(new_deployments[name])
        server_urn = servers.get(name)
        found += [(pair.urn, finding) for pair in _children(pairs.get(DEPLOYMENT, []), server_urn, new_parents)
                  for finding in _prefix(before, after)]
        found += [(pair.urn, finding) for pair in _children(pairs.get(INGRESS, []), server_urn, new_parents)
                  for finding in _mount(before, after)]
        found += _iam(name, before, after, pairs, server_urn, new_parents, old, old_parents)
    found += _removed(old_deployments, new_deployments, pairs)
    found += _backlog_to_cpu(pairs)
    return found


def _children(pairs: Sequence[Pair], server_urn: str | None, parents: Mapping[str, Any]) -> list[Pair]:
    """The ``pairs`` that are descendants of the server ``server_urn`` in the document of ``parents``."""
    if server_urn is None:
        return []
    return [pair for pair in pairs if descends(parents, pair.urn, server_urn)]


def _prefix(before: Mapping[str, str], after: Mapping[str, str]) -> list[Finding]:
    a, b = before.get("REDIS_KEY_PREFIX", ""), after.get("REDIS_KEY_PREFIX", "")
    if a == b:
        return []
    return [Finding("disruption", f"REDIS_KEY_PREFIX {a!r} → {b!r}: while the pods roll, old and new pods use disjoint "
                    "key spaces: runs in flight lose their streams and cancel signals, and the old keys stay in the "
                    "cache (noeviction)", "change it when no runs are in flight, then delete the old keys "
                    f"(`redis-cli --scan --pattern '{a}*'` piped to `redis-cli unlink`)", SERVER_KEYS)]


def _mount(before: Mapping[str, str], after: Mapping[str, str]) -> list[Finding]:
    a, b = before.get("MOUNT_PREFIX"), after.get("MOUNT_PREFIX")
    if a == b:
        return []
    return [Finding("disruption", f"MOUNT_PREFIX {a or '(none)'} → {b or '(none)'}: the Ingress path and the ALB "
                    "health check move at once, before the pods serve the new prefix: requests and health checks "
                    "fail until every pod has rolled", "change it in a maintenance window, or serve both prefixes "
                    "for a release (a second Ingress) before moving", f"{MOUNT_SOURCE}; {ALB_DOCS}")]


def _iam(name: str, before: Mapping[str, str], after: Mapping[str, str], pairs: Mapping[str, Sequence[Pair]],
         server_urn: str | None, new_parents: Mapping[str, Any], old: Mapping[str, Any],
         old_parents: Mapping[str, Any]) -> list[tuple[str, Finding]]:
    instances = [pair for pair in pairs.get(RDS_INSTANCE, []) if pair.old is not None and pair.new is not None]
    targets = _children(instances, server_urn, new_parents)
    found: list[tuple[str, Finding]] = []
    if IAM_PROVIDER in after and IAM_PROVIDER not in before:
        for pair in targets:
            if not (pair.new or {}).get("inputs", {}).get("applyImmediately"):
                found.append((pair.urn, Finding(
                    "fails", f"{name} turns IAM authentication on, but RDS enables it only at the maintenance window "
                    "while the pods roll now with IAM tokens: they cannot log in, never become ready, and `pulumi up` "
                    "fails waiting for them", f"set {config_key('postgres.applyImmediately')}: true (the flag is "
                    "enabled during `pulumi up`, before the pods roll)", SETTINGS_GUIDE)))
    if IAM_PROVIDER in before and IAM_PROVIDER not in after:
        version = _bootstrap_version(old, old_parents, server_urn)
        if version < MEMBERSHIP_BOOTSTRAP:
            for pair in targets:
                found.append((pair.urn, Finding(
                    "fails", f"{name} turns IAM authentication off: the pods log in as the master user, which the "
                    "running bootstrap never made a member of the IAM user that owns the server's tables: its "
                    "migrations fail ('must be owner of table') and the pods never become ready",
                    "two steps: first `pulumi up` this version with IAM still on (its bootstrap Job runs again and "
                    "makes the master a member of the IAM user), then turn postgres.iamAuthentication off",
                    BOOTSTRAP_SOURCE)))
    return found


def _bootstrap_version(document: Mapping[str, Any], parents: Mapping[str, Any], server_urn: str | None) -> int:
    """The bootstrap version of the server's Job in ``document`` (0 when it has none or an unversioned one)."""
    if server_urn is None:
        return 0
    for resource in document.get("resources") or []:
        if resource["type"] == JOB and descends(parents, str(resource["urn"]), server_urn):
            labels = ((resource.get("inputs") or {}).get("metadata") or {}).get("labels") or {}
            return int(labels.get(BOOTSTRAP_VERSION_LABEL) or 0)
    return 0


def _removed(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]],
             pairs: Mapping[str, Sequence[Pair]]) -> list[tuple[str, Finding]]:
    """A server removed from a Redis other servers keep using leaves its keys in that noeviction store."""
    found: list[tuple[str, Finding]] = []
    remaining = {str((deployment.get("stores") or {}).get("redis")) for deployment in new.values()}
    for name in sorted(set(old) - set(new)):
        deployment = old[name]
        redis = (deployment.get("stores") or {}).get("redis")
        shared = redis is not None and str(redis) in remaining
        if not shared:
            redis_budget = (deployment.get("budget") or {}).get("redis") or {}
            shared = int((redis_budget.get("inputs") or {}).get("deployments") or 1) > 1
        if not shared:
            continue
        prefix = environment(deployment).get("REDIS_KEY_PREFIX", "")
        urn = next((pair.urn for pair in pairs.get(AGENT_SERVER, []) if pair.old is not None and pair.new is None
                    and pair.old["name"] == name), None)
        if urn is not None:
            found.append((urn, Finding(
                "disruption", f"{name} leaves the shared Redis, but its keys (prefix {prefix!r}) stay: the cache "
                "evicts nothing (noeviction), so they take memory from the servers that remain",
                f"after `pulumi up`, delete them: `redis-cli --scan --pattern '{prefix}*'` piped to `redis-cli "
                "unlink`", SERVER_KEYS)))
    return found


def _backlog_to_cpu(pairs: Mapping[str, Sequence[Pair]]) -> list[tuple[str, Finding]]:
    """A queue going from backlog (KEDA) back to CPU scaling: Pulumi creates the new HPA before it deletes the
    ScaledObject, whose HPA has the same name (the other direction is one update: KEDA adopts the old HPA)."""
    keda_hpas = {str((((pair.old.get("inputs") or {}).get("spec") or {}).get("advanced") or {})
                     .get("horizontalPodAutoscalerConfig", {}).get("name"))
                 for pair in pairs.get(SCALED_OBJECT, []) if pair.old is not None and pair.new is None}
    found: list[tuple[str, Finding]] = []
    for pair in pairs.get(HPA, []):
        if pair.old is not None or pair.new is None:
            continue
        name = ((pair.new.get("inputs") or {}).get("metadata") or {}).get("name")
        if name in keda_hpas:
            found.append((pair.urn, Finding(
                "fails", f"the HPA `{name}` is created while KEDA's HPA of that name (of the removed ScaledObject) "
                "still exists: the create conflicts with it", "two updates: first without autoscaling "
                "(`queue.maxReplicas` unset), then with `autoscaling: cpu`", KEDA_SOURCE)))
    return found
