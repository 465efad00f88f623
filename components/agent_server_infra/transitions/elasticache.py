"""What an update of an ElastiCache replication group or of its parameter group does.

terraform-provider-aws v6 ``internal/service/elasticache/replication_group.go`` (bridged by pulumi-aws) replaces the
group on its ``ForceNew`` inputs and on the ``CustomizeDiff`` rules (an engine change other than redis → valkey, an
engine downgrade, transit encryption before 7.0.5), and updates it in place in a fixed order: shard changes, replica
increases, one ``ModifyReplicationGroup`` (the only call that honours ``apply_immediately``), the AUTH token, replica
decreases. AWS defers node type and engine version changes to the maintenance window unless applied immediately.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..provider_rules import elasticache_parameter_group_family
from ..versions import parse_version
from . import Finding
from .common import change_text, config_key, downgrade, parameter_group_replacement, value

GROUP_GO = ("terraform-provider-aws internal/service/elasticache/replication_group.go (v6): schema ForceNew, "
            "CustomizeDiff (customizeDiffEngineForceNewOnDowngrade, engineVersionForceNewOnDowngrade in "
            "engine_version.go, transit_encryption_enabled before 7.0.5), resourceReplicationGroupUpdate")
UPDATE_ORDER = ("terraform-provider-aws internal/service/elasticache/replication_group.go "
                "resourceReplicationGroupUpdate: '1. Shard configuration changes 2. Replica count increases 3. "
                "Standard updates 4. Auth token changes 5. Replica count decreases'; pulumi/pulumi-aws#2226 ('Must "
                "have at least 1 replica for Multi-AZ enabled replication group')")
MODIFY_GUIDE = ("Amazon ElastiCache User Guide, 'Modifying an ElastiCache cluster': 'The ApplyImmediately parameter "
                "applies only to modifications in node type, engine version, and changing the number of nodes'; "
                "ModifyReplicationGroup ApplyImmediately")
PARAMETER_GROUP_GO = ("terraform-provider-aws internal/service/elasticache/parameter_group.go: family, name and "
                      "description are ForceNew; a group still in use cannot be deleted "
                      "(InvalidCacheParameterGroupState: 'One or more cache clusters are still members of this "
                      "parameter group'), retried for 3 minutes")
AUTH_GUIDE = ("Amazon ElastiCache User Guide, 'Modifying the AUTH token on an existing cluster': ROTATE adds a token "
              "and keeps the previous one, SET (allowed only after ROTATE, with the token last rotated) keeps only the "
              "current one; the provider sends the token when auth_token or auth_token_update_strategy changes, "
              "applied immediately")
CLUSTER_MODE_GUIDE = ("Amazon ElastiCache User Guide, 'Modifying cluster mode': a replication group moves from "
                      "cluster mode disabled to compatible to enabled, online; it cannot move back")
DELETE_GO = ("terraform-provider-aws internal/service/elasticache/replication_group.go resourceReplicationGroupDelete: "
             "DeleteReplicationGroup with FinalSnapshotIdentifier; the group and its data are gone, the snapshot "
             "stays")
IAM_GUIDE = ("Amazon ElastiCache User Guide, 'Role-Based Access Control' (migrating from AUTH to RBAC: "
             "ModifyReplicationGroup with UserGroupIdsToAdd and AuthTokenUpdateStrategy DELETE) and 'Authenticating "
             "with IAM'")
DATA_TIERING = ("Amazon ElastiCache User Guide, 'Data tiering': r6gd nodes are only used with data tiering, "
                "`DataTieringEnabled` at CreateReplicationGroup, ForceNew in the provider")
DELETE_FIRST = ("pulumi-terraform-bridge pkg/tfbridge (Diff): a replacement is delete-before-replace when the "
                "resource's auto-named property is set by the program; the component sets replicationGroupId")

REPLACES: dict[str, str] = {
    "replicationGroupId": "the group id", "atRestEncryptionEnabled": "encryption at rest",
    "dataTieringEnabled": "data tiering", "globalReplicationGroupId": "the global datastore",
    "kmsKeyId": "the at-rest encryption key", "networkType": "the network type", "port": "the port",
    "securityGroupNames": "the cache security groups", "snapshotArns": "the RDB files it is seeded from",
    "snapshotName": "the snapshot it is seeded from", "subnetGroupName": "the subnet group",
}
"""Inputs the v6 schema marks ``ForceNew``."""
DEFERRABLE = frozenset({"nodeType", "engineVersion", "engine"})
"""What ``ModifyReplicationGroup`` defers to the maintenance window without ``ApplyImmediately``."""


def group_findings(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    """The findings of an update of a replication group whose changed top-level inputs are ``paths``."""
    replaced = _replacements(old, new, paths)
    if replaced:
        way = ("keep the group: revert this change (the Agent Server's Redis holds streams, signals and heartbeats, "
               "not the runs: accept it with `--allow data-loss` in a quiet moment if you must)")
        return [Finding("replace-delete-first", "; ".join(replaced) + ": the group is replaced, and as the component "
                        "sets its id the old group is deleted before the new one is created: the cache is empty and "
                        "down for the whole create (15 minutes or more)", way, f"{GROUP_GO}; {DELETE_FIRST}"),
                Finding("data-loss", "the new group starts empty (the final snapshot keeps the old data)", way,
                        DELETE_GO),
                Finding("disruption", "the server has no Redis until the new group is available", source=GROUP_GO)]
    deferred = not value(new, "applyImmediately")
    findings: list[Finding] = []
    family_change = _family(old) != _family(new)
    for key in sorted(paths):
        change = change_text(old, new, key)
        if key in DEFERRABLE:
            if deferred:
                findings.append(Finding("deferred", f"{change} waits for the maintenance window",
                                        f"set {config_key('redis.applyImmediately')}: true to apply it during "
                                        "`pulumi up`", MODIFY_GUIDE))
            else:
                findings.append(Finding("immediate", f"{change} during `pulumi up`", source=MODIFY_GUIDE))
            if key == "nodeType":
                findings += _node_type(old, new)
        elif key not in {"authToken", "authTokenUpdateStrategy"}:
            findings.append(Finding("immediate", change, source=GROUP_GO))
    if family_change and deferred:
        findings.append(Finding("fails", f"the parameter group family {_family(old)} → {_family(new)} changes with the "
                                "engine: the new group is attached only when the deferred upgrade runs, while `pulumi "
                                "up` deletes the old group now (InvalidCacheParameterGroupState)",
                                f"set {config_key('redis.applyImmediately')}: true: the upgrade runs during "
                                "`pulumi up`, before the old group is deleted", PARAMETER_GROUP_GO))
    findings += _replicas(old, new, paths, deferred)
    findings += _auth_token(old, new, paths)
    findings += _cluster_mode(old, new, paths)
    if "userGroupIds" in paths and value(new, "userGroupIds") and not value(old, "userGroupIds"):
        findings.append(Finding("disruption", "the group moves from its AUTH token to RBAC (a user group, IAM "
                                "authentication): until the pods roll onto their IAM URI, the old ones authenticate "
                                "as the group's disabled default user and lose Redis", "switch in a quiet moment; "
                                "runs in flight lose their streams", IAM_GUIDE))
    if value(old, "finalSnapshotIdentifier") and not value(new, "finalSnapshotIdentifier"):
        findings.append(Finding("immediate", "`finalSnapshotIdentifier` removed: deleting the group keeps no final "
                                "snapshot", source=GROUP_GO, weakens=True))
    if (value(old, "snapshotRetentionLimit") or 0) > 0 and not value(new, "snapshotRetentionLimit"):
        findings.append(Finding("immediate", "`snapshotRetentionLimit` → 0: automatic snapshots are switched off",
                                source=GROUP_GO, weakens=True))
    return findings or [Finding("immediate", "updated in place", source=GROUP_GO)]


def _cluster_mode(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    if "clusterMode" not in paths:
        return []
    before, after = value(old, "clusterMode") or "disabled", value(new, "clusterMode") or "disabled"
    if before == "enabled":
        return [Finding("fails", f"`clusterMode` {before} → {after}: ElastiCache migrates only towards cluster mode "
                        "(disabled → compatible → enabled); leaving it needs a new group",
                        "create a new Redis beside this one and move the server to it", CLUSTER_MODE_GUIDE)]
    if (before, after) == ("disabled", "enabled"):
        return [Finding("fails", "`clusterMode` disabled → enabled must pass through `compatible`, and the server "
                        "must speak cluster mode first", "create a new Redis in cluster mode beside this one and "
                        "move the server to it (REDIS_CLUSTER changes with it)", CLUSTER_MODE_GUIDE)]
    return [Finding("disruption", f"`clusterMode` {before} → {after}: an online migration; clients must speak "
                    "cluster mode", source=CLUSTER_MODE_GUIDE)]


def _replacements(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[str]:
    found = [f"{change_text(old, new, key)} ({REPLACES[key]} is chosen at creation)" for key in REPLACES
             if key in paths]
    if "engine" in paths:
        before, after = value(old, "engine") or "redis", value(new, "engine") or "redis"
        if (before, after) != ("redis", "valkey"):
            found.append(f"`engine` {before} → {after} (only redis → valkey changes in place)")
    if "engineVersion" in paths and downgrade(value(old, "engineVersion"), value(new, "engineVersion")):
        found.append(f"`engineVersion` {value(old, 'engineVersion')} → {value(new, 'engineVersion')} is a downgrade")
    if "transitEncryptionEnabled" in paths and parse_version(str(value(old, "engineVersion") or "0")) < (7, 0, 5):
        found.append("`transitEncryptionEnabled` changes on an engine older than 7.0.5 (set only at creation there)")
    return found


def _family(inputs: Mapping[str, Any]) -> str:
    return elasticache_parameter_group_family(str(value(inputs, "engine") or "redis"),
                                              str(value(inputs, "engineVersion") or "7.1"))


def _node_type(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Finding]:
    node_type = str(value(new, "nodeType") or "")
    family = node_type.split(".")[1] if node_type.count(".") >= 2 else ""
    if family.startswith("r") and family.endswith("d") and not value(new, "dataTieringEnabled"):
        return [Finding("fails", f"`nodeType` {node_type} is a data-tiering (r6gd) node, which AWS only runs with "
                        "data tiering, chosen at creation", "pick a node type without the d (cache.r6g, cache.r7g)",
                        DATA_TIERING)]
    return [Finding("immediate", f"`nodeType` {value(old, 'nodeType')} → {node_type} scales the nodes online "
                    "(minutes of reduced capacity, no data loss)", source=MODIFY_GUIDE)]


def _replicas(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str], deferred: bool) -> list[Finding]:
    findings: list[Finding] = []
    if "replicasPerNodeGroup" in paths and (value(new, "replicasPerNodeGroup") or 0) == 0 and \
            value(old, "multiAzEnabled") and (value(old, "replicasPerNodeGroup") or 0) > 0:
        findings.append(Finding("fails", "`replicasPerNodeGroup` → 0 while Multi-AZ is on: the provider removes the "
                                "replicas (step 1) before it turns Multi-AZ off (step 3), and AWS refuses a Multi-AZ "
                                "group without replicas", f"two steps: first {config_key('redis.multiAz')}: false, "
                                "then replicasPerShard: 0", UPDATE_ORDER))
    if "numCacheClusters" in paths and (value(new, "numCacheClusters") or 1) == 1 and \
            (value(old, "numCacheClusters") or 1) > 1 and deferred and \
            (value(old, "automaticFailoverEnabled") or value(old, "multiAzEnabled")):
        findings.append(Finding("fails", "the last replica is removed at once (step 5) while turning failover and "
                                "Multi-AZ off waits for the maintenance window (step 3, without applyImmediately): AWS "
                                "refuses a failover group of one node", f"set {config_key('redis.applyImmediately')}: "
                                f"true, or two steps: first {config_key('redis.multiAz')}: false, then replicas: 0",
                                UPDATE_ORDER))
    for key in ("numCacheClusters", "replicasPerNodeGroup", "numNodeGroups"):
        if key in paths:
            findings.append(Finding("immediate", f"{change_text(old, new, key)} is applied at once (replica and "
                                    "shard changes ignore applyImmediately)", source=UPDATE_ORDER))
    return findings


def _auth_token(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    if "authTokenUpdateStrategy" not in paths and "authToken" not in paths:
        return []
    strategy = value(new, "authTokenUpdateStrategy") or "ROTATE"
    if strategy == "SET" and "authToken" in paths:
        return [Finding("fails", "a new AUTH token with strategy SET: AWS allows SET only for the token last "
                        "rotated, and the running pods would lose Redis the moment it applies",
                        f"two steps: bump {config_key('redis.authTokenVersion')} with authTokenUpdateStrategy ROTATE, "
                        "let the pods roll, then set authTokenUpdateStrategy: SET", AUTH_GUIDE),
                Finding("disruption", "pods still on the old token cannot authenticate", source=AUTH_GUIDE)]
    if strategy == "SET":
        return [Finding("immediate", "AUTH token strategy SET: the previous token stops working at once (the pods "
                        "use the current one since the rotation)", source=AUTH_GUIDE)]
    return [Finding("immediate", "AUTH token rotated with ROTATE: the old and the new token both work until "
                    "authTokenUpdateStrategy: SET", f"once the pods have rolled, set "
                    f"{config_key('redis.authTokenUpdateStrategy')}: SET so the old token stops working", AUTH_GUIDE)]


def parameter_group_findings(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    """An ElastiCache parameter group: a new family, name or description replaces it (auto-named: the new one first;
    the group is moved to it and the old one deleted last); parameter values change in place."""
    replaced = parameter_group_replacement(old, new, paths, ("family", "name", "description"), "the cache",
                                           PARAMETER_GROUP_GO)
    return replaced or [Finding("immediate", "parameter values change in place (some apply only after the nodes "
                                "restart)", source=PARAMETER_GROUP_GO)]
