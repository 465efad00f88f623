"""What an IaC scanner asked of the defaults: RDS enhanced monitoring and slow-query logging, the slow-log group
under the Redis key with a chosen retention, a configurable container UID/GID and NetworkPolicies for the pods."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_server_infra.errors import ConfigError
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.validate import validate_stack
from tests.helpers import write_modified_stack

RDS = "aws:rds/instance:Instance"
KMS = "arn:aws:kms:us-east-1:123456789012:key/7f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"


def test_prod_monitors_rds_with_a_role_of_its_own(planned: Callable[[str], Recording]) -> None:
    recording = planned("prod")
    db = recording.one(RDS).plain_inputs
    role = recording.one("aws:iam/role:Role")
    assert db["monitoringInterval"] == 60
    assert db["monitoringRoleArn"] == role.outputs["arn"]
    trust = json.loads(role.plain_inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                   "Principal": {"Service": "monitoring.rds.amazonaws.com"}}]
    attachment = recording.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment").plain_inputs
    assert attachment["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    assert attachment["role"] == role.outputs["name"]
    parameters = {p["name"]: p["value"] for p in
                  recording.one("aws:rds/parameterGroup:ParameterGroup").plain_inputs["parameters"]}
    assert parameters["log_min_duration_statement"] == "2000"


def test_prod_encrypts_redis_and_its_slow_log_with_the_key(planned: Callable[[str], Recording]) -> None:
    recording = planned("prod")
    assert recording.one("aws:elasticache/replicationGroup:ReplicationGroup").plain_inputs["kmsKeyId"] == KMS
    log = recording.one("aws:cloudwatch/logGroup:LogGroup").plain_inputs
    assert (log["kmsKeyId"], log["retentionInDays"]) == (KMS, 90)


def test_dev_keeps_monitoring_off_and_the_image_uid(planned: Callable[[str], Recording]) -> None:
    recording = planned("dev")
    assert recording.one(RDS).plain_inputs.get("monitoringInterval", 0) == 0
    assert not recording.by_type("aws:iam/role:Role")
    assert recording.one("aws:cloudwatch/logGroup:LogGroup").plain_inputs["retentionInDays"] == 30
    for deployment in recording.by_type("kubernetes:apps/v1:Deployment"):
        context = deployment.plain_inputs["spec"]["template"]["spec"]["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (1000, 1000, 1000)


def test_a_given_monitoring_role_and_uid_are_used(tmp_path: Path) -> None:
    role = "arn:aws:iam::123456789012:role/rds-monitoring"
    recording = plan_stack(str(write_modified_stack(tmp_path, "dev", {
        "postgres": {"monitoringIntervalSeconds": 15, "monitoringRoleArn": role},
        "server": {"runAsUser": 10001, "runAsGroup": 10002}})))
    assert recording.one(RDS).plain_inputs["monitoringRoleArn"] == role
    assert not recording.by_type("aws:iam/role:Role")
    for deployment in recording.by_type("kubernetes:apps/v1:Deployment"):
        context = deployment.plain_inputs["spec"]["template"]["spec"]["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (10001, 10002, 10002)


@pytest.mark.parametrize(("section", "values", "expected"), [
    ("redis", {"slowLogRetentionDays": 10}, "redis.slowLogRetentionDays: must be a retention CloudWatch Logs"),
    ("postgres", {"monitoringRoleArn": "arn:aws:iam::123456789012:role/m"}, "postgres.monitoringRoleArn: only used"),
    ("postgres", {"monitoringIntervalSeconds": 2}, "postgres.monitoringIntervalSeconds: must be one of"),
    ("server", {"runAsUser": 0}, "server.runAsUser: must be ≥ 1"),
])
def test_the_new_settings_are_validated(raw: dict[str, Any], section: str, values: dict[str, Any],
                                        expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_stack({**raw, section: {**raw.get(section, {}), **values}})
    assert expected in caught.value.report()


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def test_prod_pods_get_network_policies_that_admit_its_alb(planned: Callable[[str], Recording]) -> None:
    recording = planned("prod")
    policies = {policy.plain_inputs["metadata"]["name"].removeprefix("agent-server-prod-workload-"): policy
                .plain_inputs["spec"] for policy in recording.by_type(NETWORK_POLICY)}
    assert set(policies) == {"default-deny", "api-ingress", "queue-ingress", "egress"}
    assert policies["default-deny"]["policyTypes"] == ["Ingress", "Egress"]
    [rule] = policies["api-ingress"]["ingress"]
    assert {"ipBlock": {"cidr": "10.40.0.0/16"}} in rule["from"], "prod's ALB (IP targets) reaches the API"
    store_ports = {port["port"] for egress in policies["egress"]["egress"] for port in egress.get("ports", [])
                   if port["port"] not in (53, 443)}
    db = recording.one(RDS).plain_inputs
    group = recording.one("aws:elasticache/replicationGroup:ReplicationGroup").plain_inputs
    assert store_ports == {db["port"], group["port"]}


def test_an_alb_behind_a_network_policy_needs_ingress_cidrs(raw: dict[str, Any]) -> None:
    server = {**raw["server"], "ingress": {"host": "agents.example.com", "className": "alb"}}
    with pytest.raises(ConfigError) as caught:
        validate_stack({**raw, "server": server})
    assert "server.networkPolicy.ingressCidrs: required with className alb" in caught.value.report()
    assert validate_stack({**raw, "server": {**server, "networkPolicy": {"enabled": False}}})
    assert validate_stack({**raw, "server": {**server, "networkPolicy": {"ingressCidrs": ["10.0.0.0/16"]}}})
