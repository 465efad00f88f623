"""CrossGuard rules called directly on resources recorded under mocks (the PolicyPack is never constructed)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from agent_server_infra.plan.engine import Recording, reveal
from policies import rules
from tests.helpers import STACKS


def props_of(recording: Recording, type_: str) -> dict[str, Any]:
    return reveal(copy.deepcopy(recording.by_type(type_)[0].inputs))


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_pass_every_rule(stack: str, planned: Callable[[str], Recording]) -> None:
    recording = planned(stack)
    checked = 0
    for resource in recording.resources:
        found = rules.violations(resource.type, reveal(resource.inputs), resource.protect)
        assert found == [], f"{stack}: {resource.type} {resource.name}: {found}"
        checked += resource.type in {rules.RDS_INSTANCE, rules.REPLICATION_GROUP, rules.RDS_PARAMETER_GROUP}
    assert checked == 3


@pytest.mark.parametrize(
    ("type_", "change", "rule"),
    [
        (rules.RDS_INSTANCE, {"storageEncrypted": False}, "rds-storage-encrypted"),
        (rules.RDS_INSTANCE, {"publiclyAccessible": True}, "rds-not-public"),
        (rules.RDS_INSTANCE, {"skipFinalSnapshot": True}, "rds-deletion-protection"),
        (rules.REPLICATION_GROUP, {"transitEncryptionEnabled": False}, "elasticache-encrypted"),
        (rules.REPLICATION_GROUP, {"transitEncryptionMode": "preferred"}, "elasticache-encrypted"),
        (rules.REPLICATION_GROUP, {"atRestEncryptionEnabled": False}, "elasticache-encrypted"),
        (rules.REPLICATION_GROUP, {"authToken": None}, "elasticache-encrypted"),
        (rules.RDS_PARAMETER_GROUP, {"parameters": [{"name": "rds.force_ssl", "value": "0"}]}, "rds-force-ssl"),
        (rules.RDS_PARAMETER_GROUP, {"parameters": []}, "rds-force-ssl"),
        (rules.INGRESS_RULE, {"cidrIpv4": "0.0.0.0/0", "referencedSecurityGroupId": None}, "no-open-ingress"),
        (rules.INGRESS_RULE, {"cidrIpv6": "::/0", "referencedSecurityGroupId": None}, "no-open-ingress"),
        (rules.SECURITY_GROUP, {"ingress": [{"fromPort": 5432, "toPort": 5432, "protocol": "tcp",
                                             "cidrBlocks": ["0.0.0.0/0"]}]}, "no-open-ingress"),
    ],
)
def test_rules_catch_insecure_resources(type_: str, change: dict[str, Any], rule: str,
                                        planned: Callable[[str], Recording]) -> None:
    props = props_of(planned("dev"), type_)
    assert rules.violations(type_, props) == []
    props.update(change)
    assert rule in [name for name, _ in rules.violations(type_, props)]


def test_deletion_protection_is_required_only_in_protected_stacks(planned: Callable[[str], Recording]) -> None:
    props = props_of(planned("prod"), rules.RDS_INSTANCE)
    props["deletionProtection"] = False
    assert rules.violations(rules.RDS_INSTANCE, props, protected=False) == []
    assert [name for name, _ in rules.violations(rules.RDS_INSTANCE, props, protected=True)] == [
        "rds-deletion-protection"]


def test_legacy_security_group_rule_is_checked() -> None:
    props = {"type": "ingress", "cidrBlocks": ["0.0.0.0/0"], "fromPort": 6379, "toPort": 6379}
    assert rules.violations(rules.LEGACY_RULE, props)
    assert rules.violations(rules.LEGACY_RULE, {**props, "type": "egress"}) == []


def test_the_backlog_autoscaler_never_scales_the_queue_to_zero(planned: Callable[[str], Recording]) -> None:
    props = props_of(planned("prod"), rules.SCALED_OBJECT)
    assert rules.violations(rules.SCALED_OBJECT, props) == []
    spec = props["spec"]
    for broken in ({**spec, "minReplicaCount": 0}, {k: v for k, v in spec.items() if k != "minReplicaCount"},
                   {**spec, "idleReplicaCount": 0}):
        found = rules.violations(rules.SCALED_OBJECT, {**props, "spec": broken})
        assert [name for name, _ in found] == ["queue-never-scales-to-zero"]
    other = {**props, "metadata": {**props["metadata"], "labels": {"app.kubernetes.io/name": "someone-else"}}}
    assert rules.violations(rules.SCALED_OBJECT, {**other, "spec": {**spec, "minReplicaCount": 0}}) == []
