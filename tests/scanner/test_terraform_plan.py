"""The Terraform plan document the scanner reads: Terraform types, snake_case arguments, singular block names and
the references between resources (what graph checks such as 'a security group is attached' follow)."""

from __future__ import annotations

from typing import Any

from agent_server_infra.plan.engine import Recording
from tests.scanner.terraform_plan import snake, terraform_plan, unknown_types


def _by_address(document: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    root = document[key]["root_module"]["resources"]
    return {resource["address"]: resource for resource in root}


def test_names_follow_terraform() -> None:
    assert snake("storageEncrypted") == "storage_encrypted"
    assert snake("iamDatabaseAuthenticationEnabled") == "iam_database_authentication_enabled"
    assert snake("logDeliveryConfigurations") == "log_delivery_configuration"
    assert snake("parameters") == "parameter"


def test_prod_becomes_a_plan_with_its_references(planned: Any) -> None:
    recording: Recording = planned("prod")
    assert not unknown_types(recording)
    document = terraform_plan(recording)
    values = _by_address(document, "planned_values")
    [db] = [r for a, r in values.items() if a.startswith("aws_db_instance.")]
    assert db["values"]["storage_encrypted"] is True
    assert db["values"]["allocated_storage"] == 100
    assert db["values"]["tags"]["agent-server/instance"] == "agent-server-prod", "map keys are kept"
    [group] = [r for a, r in values.items() if a.startswith("aws_elasticache_replication_group.")]
    assert group["values"]["log_delivery_configuration"][0]["log_type"] == "slow-log"
    expressions = _by_address(document, "configuration")[db["address"]]["expressions"]
    [security_group] = [a for a in values if a.startswith("aws_security_group.") and "postgres" in a]
    assert expressions["vpc_security_group_ids"]["references"] == [f"{security_group}.id", security_group]
    assert expressions["parameter_group_name"]["references"][1].startswith("aws_db_parameter_group.")
    assert "identifier" not in expressions, "a resource never references itself"
