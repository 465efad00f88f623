"""A stack's AWS resources as a Terraform plan document (``terraform show -json``), for scanners that read plans.

Pulumi's AWS provider is a bridge of terraform-provider-aws: each resource's inputs are the Terraform resource's
arguments in camelCase (``storageEncrypted`` is ``storage_encrypted``), and a nested block Terraform names in the
singular is a plural list in Pulumi (``logDeliveryConfigurations`` is ``log_delivery_configuration``). The plan
document lists every resource under ``planned_values.root_module.resources`` with its Terraform ``type``, an
``address`` and its ``values``; Checkov's ``terraform_plan`` framework reads exactly that
(``checkov/terraform/plan_parser.py``). Values are the inputs the program sent (the mock engine's computed
outputs, such as ARNs, are left out as Terraform leaves them unknown).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from agent_server_infra.plan.engine import Recording, reveal

TERRAFORM_TYPES: dict[str, str] = {
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:elasticache/parameterGroup:ParameterGroup": "aws_elasticache_parameter_group",
    "aws:elasticache/replicationGroup:ReplicationGroup": "aws_elasticache_replication_group",
    "aws:elasticache/subnetGroup:SubnetGroup": "aws_elasticache_subnet_group",
    "aws:elasticache/user:User": "aws_elasticache_user",
    "aws:elasticache/userGroup:UserGroup": "aws_elasticache_user_group",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:rds/parameterGroup:ParameterGroup": "aws_db_parameter_group",
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "aws_vpc_security_group_ingress_rule",
}
"""Pulumi type token → Terraform resource type (pulumi-aws maps each resource of terraform-provider-aws)."""

BLOCK_NAMES: dict[str, str] = {
    "logDeliveryConfigurations": "log_delivery_configuration",
    "parameters": "parameter",
}
"""Nested blocks whose Pulumi name is the plural of Terraform's."""


def snake(name: str) -> str:
    """``storageEncrypted`` → ``storage_encrypted``."""
    return BLOCK_NAMES.get(name) or re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _values(value: Any, top: bool = True) -> Any:
    if isinstance(value, dict):
        # Map-typed arguments (tags, parameters given as maps) keep their keys; argument names become snake_case.
        return {(snake(key) if top else key): _values(item, top=top and key not in ("tags", "tagsAll"))
                for key, item in value.items()}
    if isinstance(value, list):
        return [_values(item, top=top) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # numbers decode from the wire as floats
    return value


def unknown_types(recording: Recording) -> set[str]:
    """AWS types of the recording the translation table does not know (a new resource needs a row)."""
    return {r.type for r in recording.resources if r.type.startswith("aws:") and r.type not in TERRAFORM_TYPES}


REFERABLE = ("id", "arn", "name")
"""Outputs another resource's argument may hold (a security group's id, a parameter group's name, a role's
ARN): Terraform's plan records such an argument as a reference to that resource, which graph checks follow."""


def _references(value: Any, targets: dict[str, str]) -> list[str]:
    items = value if isinstance(value, list) else [value]
    found = [targets[item] for item in items if isinstance(item, str) and item in targets]
    return [part for reference in found for part in (reference, reference.rsplit(".", 1)[0])]


def terraform_plan(recording: Recording) -> dict[str, Any]:
    """The recording's AWS resources as a Terraform plan document: their values, and in ``configuration`` the
    references between them (an argument holding another resource's id, ARN or name)."""
    named: list[tuple[str, str, Any]] = []
    seen: dict[str, int] = {}
    targets: dict[str, str] = {}
    for resource in recording.resources:
        terraform_type = TERRAFORM_TYPES.get(resource.type)
        if terraform_type is None:
            continue
        name = re.sub(r"[^A-Za-z0-9_-]", "_", resource.name)
        seen[f"{terraform_type}.{name}"] = count = seen.get(f"{terraform_type}.{name}", 0) + 1
        name = name if count == 1 else f"{name}_{count}"
        named.append((terraform_type, name, resource))
        state = reveal(resource.wire_outputs)
        for attribute in REFERABLE:
            if isinstance(state.get(attribute), str) and state[attribute]:
                targets.setdefault(state[attribute], f"{terraform_type}.{name}.{attribute}")
    resources: list[dict[str, Any]] = []
    configuration: list[dict[str, Any]] = []
    for terraform_type, name, resource in named:
        address = f"{terraform_type}.{name}"
        inputs = reveal(resource.wire_inputs)
        resources.append({"address": address, "mode": "managed", "type": terraform_type, "name": name,
                          "provider_name": "registry.terraform.io/hashicorp/aws", "values": _values(inputs)})
        expressions = {snake(key): {"references": references} for key, value in inputs.items()
                       if (references := [r for r in _references(value, targets)
                                          if r != address and not r.startswith(address + ".")])}
        configuration.append({"address": address, "mode": "managed", "type": terraform_type, "name": name,
                              "provider_config_key": "aws", "expressions": expressions})
    return {"format_version": "1.2", "terraform_version": "1.9.0",
            "planned_values": {"root_module": {"resources": resources}},
            "configuration": {"root_module": {"resources": configuration}}}


def write_terraform_plan(recording: Recording, path: Path) -> Path:
    path.write_text(json.dumps(terraform_plan(recording), indent=1, sort_keys=True))
    return path
