"""CrossGuard rules as plain functions of (resource type, engine-cased props, protected).

Each rule returns the violations it finds (empty when the resource complies or is not its concern). The
PolicyPack in ``__main__.py`` adapts them; tests call them directly on resources recorded under mocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
AGENT_SERVER_LABEL = ("app.kubernetes.io/name", "agent-server")
OPEN = {"0.0.0.0/0", "::/0"}

Props = Mapping[str, Any]


def rds_encrypted(resource_type: str, props: Props, protected: bool = False) -> list[str]:
    if resource_type != RDS_INSTANCE:
        return []
    return [] if props.get("storageEncrypted") is True else ["RDS storage must be encrypted (storageEncrypted)"]


def rds_private(resource_type: str, props: Props, protected: bool = False) -> list[str]:
    if resource_type != RDS_INSTANCE:
        return []
    return ["RDS instance must not be publicly accessible"] if props.get("publiclyAccessible") else []


def rds_deletion_protection(resource_type: str, props: Props, protected: bool = False) -> list[str]:
    """In a protected stack (the resource has ``protect``), RDS needs deletion protection and a final snapshot."""
    if resource_type != RDS_INSTANCE:
        return []
    found: list[str] = []
    if props.get("skipFinalSnapshot") is True or not props.get("finalSnapshotIdentifier"):
        found.append("RDS instance must take a final snapshot (skipFinalSnapshot false, finalSnapshotIdentifier)")
    if protected and props.get("deletionProtection") is not True:
        found.append("protected RDS instance must have deletionProtection")
    return found


def rds_force_ssl(resource_type: str, props: Props, protected: bool = False) -> list[str]:
    if resource_type != RDS_PARAMETER_GROUP or not str(props.get("family", "")).startswith("postgres"):
        return []
    parameters = {item.get("name"): str(item.get("value")) for item in props.get("parameters") or []}
    return [] if parameters.get("rds.force_ssl") == "1" else ["Postgres parameter group must set rds.force_ssl=1"]


def elasticache_encrypted(resource_type: str, props: Props, protected: bool = False) -> list[str]:
    if resource_type != REPLICATION_GROUP:
        return []
    found: list[str] = []
    if props.get("transitEncryptionEnabled") is not True or props.get("transitEncryptionMode") == "preferred":
        found.append("ElastiCache must require TLS in transit (transitEncryptionEnabled, mode required)")
    if props.get("atRestEncryptionEnabled") is not True:
        found.append("ElastiCache must encrypt at rest (atRestEncryptionEnabled)")
    if not props.get("authToken"):
        found.append("ElastiCache must require an AUTH token")
    return found


def no_open_ingress(resource_type: str, props: Props, protected: bool = False) -> list[str]:
    """No data-store security group admits the whole internet, inline or through a separate rule."""
    cidrs: list[str] = []
    if resource_type == SECURITY_GROUP:
        for rule in props.get("ingress") or []:
            cidrs += list(rule.get("cidrBlocks") or []) + list(rule.get("ipv6CidrBlocks") or [])
    elif resource_type == INGRESS_RULE:
        cidrs += [props.get("cidrIpv4") or "", props.get("cidrIpv6") or ""]
    elif resource_type == LEGACY_RULE and props.get("type") == "ingress":
        cidrs += list(props.get("cidrBlocks") or []) + list(props.get("ipv6CidrBlocks") or [])
    return [f"security group ingress must not be open to {cidr}" for cidr in cidrs if cidr in OPEN]


def queue_never_scales_to_zero(resource_type: str, props: Props, protected: bool = False) -> list[str]:
    """An Agent Server's KEDA ScaledObject keeps at least one queue replica: scaled to zero (KEDA's default
    ``minReplicaCount``, or an ``idleReplicaCount``), the queue loses the tasks it holds."""
    if resource_type != SCALED_OBJECT:
        return []
    key, name = AGENT_SERVER_LABEL
    if ((props.get("metadata") or {}).get("labels") or {}).get(key) != name:
        return []
    spec = props.get("spec") or {}
    found = []
    if int(spec.get("minReplicaCount") or 0) < 1:
        found.append(f"minReplicaCount must be ≥ 1 (got {spec.get('minReplicaCount', 'unset: KEDA defaults to 0')})")
    if "idleReplicaCount" in spec:
        found.append("idleReplicaCount scales the queue to zero while idle")
    return found


@dataclass(frozen=True)
class Rule:
    """A named rule with its description, for the PolicyPack."""

    name: str
    description: str
    check: Callable[[str, Props, bool], list[str]]


RULES: tuple[Rule, ...] = (
    Rule("rds-storage-encrypted", "RDS instances encrypt storage at rest.", rds_encrypted),
    Rule("rds-not-public", "RDS instances are not publicly accessible.", rds_private),
    Rule("rds-deletion-protection", "RDS keeps a final snapshot; protected stacks need deletion protection.",
         rds_deletion_protection),
    Rule("rds-force-ssl", "Postgres parameter groups require TLS (rds.force_ssl=1).", rds_force_ssl),
    Rule("elasticache-encrypted", "ElastiCache requires TLS, at-rest encryption and AUTH.", elasticache_encrypted),
    Rule("no-open-ingress", "Data-store security groups never admit 0.0.0.0/0 or ::/0.", no_open_ingress),
    Rule("queue-never-scales-to-zero", "An Agent Server's KEDA ScaledObject keeps at least one queue replica.",
         queue_never_scales_to_zero),
)


def violations(resource_type: str, props: Props, protected: bool = False) -> list[tuple[str, str]]:
    """Every (rule name, message) a resource breaks."""
    return [(rule.name, message) for rule in RULES for message in rule.check(resource_type, props, protected)]
