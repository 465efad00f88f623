"""CloudWatch alarms derived from the connection budget: prod's, their dimensions and thresholds recomputed here
from the stack config and the planned budget, a shared Redis summed over its servers, and the rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_server_infra.errors import ConfigError
from agent_server_infra.plan.document import to_document
from agent_server_infra.plan.engine import RecordedResource, Recording
from agent_server_infra.plan.report import plan_markdown
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.validate import validate_stack
from tests.helpers import ROOT, write_modified_stack

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
GIB = 1024**3
TOPIC = "arn:aws:sns:us-east-1:123456789012:agents-prod-alarms"


def _alarms(recording: Recording) -> dict[str, dict[str, Any]]:
    return {alarm.name: alarm.plain_inputs for alarm in recording.by_type(ALARM)}


def _stack(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


def test_prod_alarms_on_postgres_from_its_budget_and_size(planned: Callable[[str], Recording]) -> None:
    recording = planned("prod")
    alarms = _alarms(recording)
    config = _stack("prod")["agent-server:postgres"]
    identifier = recording.one("aws:rds/instance:Instance").plain_inputs["identifier"]
    budget = recording.outputs["budget"]["postgres"]
    connections = alarms["agent-server-prod-postgres-connections"]
    assert (connections["metricName"], connections["namespace"]) == ("DatabaseConnections", "AWS/RDS")
    assert connections["comparisonOperator"] == "GreaterThanThreshold"
    assert connections["threshold"] == budget["used"], "above what the budget plans, something opened more"
    assert budget["formula"].split(" ≤ ")[0] in connections["alarmDescription"]
    storage = alarms["agent-server-prod-postgres-free-storage"]
    assert (storage["comparisonOperator"], storage["statistic"]) == ("LessThanThreshold", "Minimum")
    assert storage["threshold"] == config["allocatedStorageGb"] * GIB // 10
    assert alarms["agent-server-prod-postgres-freeable-memory"]["threshold"] == 16 * GIB // 10  # db.r6g.large
    assert alarms["agent-server-prod-postgres-cpu"]["threshold"] == 80
    for name in ("connections", "cpu", "free-storage", "freeable-memory"):
        alarm = alarms[f"agent-server-prod-postgres-{name}"]
        assert alarm["dimensions"] == {"DBInstanceIdentifier": identifier}
        assert alarm["alarmActions"] == alarm["okActions"] == [TOPIC]
        assert (alarm["period"], alarm["evaluationPeriods"]) == (60, 5)
        assert "unit" not in alarm, "an alarm with a unit matches only data published in it"


def test_prod_alarms_on_every_redis_node(planned: Callable[[str], Recording]) -> None:
    recording = planned("prod")
    alarms = _alarms(recording)
    group = recording.one("aws:elasticache/replicationGroup:ReplicationGroup").plain_inputs
    nodes = [f"{group['replicationGroupId']}-{index:03d}" for index in range(1, int(group["numCacheClusters"]) + 1)]
    assert len(nodes) == 3  # a primary and prod's two replicas
    used = recording.outputs["budget"]["redis"]["used"]
    for node in nodes:
        suffix = node.rsplit("-", 1)[1]
        by_metric = {alarm["metricName"]: alarm for name, alarm in alarms.items()
                     if name.startswith(f"agent-server-prod-redis-{suffix}-")}
        assert set(by_metric) == {"CurrConnections", "DatabaseMemoryUsagePercentage", "EngineCPUUtilization",
                                  "ReplicationLag"}
        assert {alarm["dimensions"]["CacheClusterId"] for alarm in by_metric.values()} == {node}
        assert by_metric["CurrConnections"]["threshold"] == used
        assert by_metric["DatabaseMemoryUsagePercentage"]["threshold"] == 90
        # Whichever node is primary publishes no lag: missing data must not alarm.
        assert by_metric["ReplicationLag"]["treatMissingData"] == "notBreaching"


def test_every_description_fits_awss_limit(planned: Callable[[str], Recording]) -> None:
    for alarm in planned("prod").by_type(ALARM):
        assert 0 < len(alarm.plain_inputs["alarmDescription"]) <= 1024


def test_dev_has_no_alarms(planned: Callable[[str], Recording]) -> None:
    assert "agent-server:alarms" not in _stack("dev")
    assert not planned("dev").by_type(ALARM)


def test_the_plan_shows_the_alarms(planned: Callable[[str], Recording]) -> None:
    document = to_document(planned("prod"))
    [deployment] = document["deployments"]
    rows = {(row["store"], row["metric"]): row for row in deployment["alarms"]}
    assert rows[("postgres", "AWS/RDS DatabaseConnections")]["threshold"] == deployment["budget"]["postgres"]["used"]
    assert rows[("redis", "AWS/ElastiCache CurrConnections")]["targets"] == 3
    markdown = plan_markdown(document)
    assert "#### Alarms" in markdown
    assert f"> {deployment['budget']['postgres']['used']} Count" in markdown
    assert "< 10,737,418,240 Bytes" in markdown  # 10 % of 100 GiB


def test_cluster_mode_alarms_on_each_shards_nodes(tmp_path: Path) -> None:
    recording = plan_stack(str(write_modified_stack(tmp_path, "cluster", {
        "alarms": {"snsTopicArn": "arn:aws:sns:eu-west-1:123456789012:agents"}})))
    group = recording.one("aws:elasticache/replicationGroup:ReplicationGroup").plain_inputs
    expected = {f"{group['replicationGroupId']}-{shard:04d}-{node:03d}"
                for shard in range(1, int(group["numNodeGroups"]) + 1)
                for node in range(1, int(group["replicasPerNodeGroup"]) + 2)}
    watched = {alarm["dimensions"]["CacheClusterId"] for alarm in _alarms(recording).values()
               if alarm["namespace"] == "AWS/ElastiCache" and alarm["metricName"] == "CurrConnections"}
    assert watched == expected


def test_a_shared_redis_alarms_on_the_sum_of_its_servers(tmp_path: Path) -> None:
    example = ROOT / "examples" / "shared-redis"
    document = yaml.safe_load((example / "Pulumi.dev.yaml").read_text())
    document["config"]["agent-server:alarms"] = {"snsTopicArn": "arn:aws:sns:us-east-1:123456789012:agents"}
    (tmp_path / "Pulumi.yaml").write_text((example / "Pulumi.yaml").read_text())
    (tmp_path / "__main__.py").write_text((example / "__main__.py").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    recording = plan_stack(str(tmp_path / "Pulumi.dev.yaml"))
    connections = [alarm for alarm in recording.by_type(ALARM) if alarm.plain_inputs["metricName"] == "CurrConnections"]
    assert connections, "the first server with alarms watches the shared Redis"
    summed = recording.outputs["redisBudget"]["used"]
    first = recording.outputs["supportBudget"]["redis"]["used"]
    assert summed > first, "the second server added its claim"
    assert {alarm.plain_inputs["threshold"] for alarm in connections} == {summed}
    # One set of Redis alarms, not one per server; each server's RDS instance has its own.
    assert len(connections) == len({_node(alarm) for alarm in connections})
    assert len([a for a in recording.by_type(ALARM) if a.plain_inputs["metricName"] == "DatabaseConnections"]) == 2


def _node(alarm: RecordedResource) -> str:
    return str(alarm.plain_inputs["dimensions"]["CacheClusterId"])


@pytest.mark.parametrize(("alarms", "expected"), [
    ({}, "alarms.snsTopicArn: required when alarms are enabled"),
    ({"snsTopicArn": TOPIC, "periodSeconds": 3600, "evaluationPeriods": 25},
     "alarms.evaluationPeriods: periodSeconds × evaluationPeriods = 3600 × 25 = 90000 s"),
    ({"snsTopicArn": "arn:aws:sqs:us-east-1:123456789012:q"}, "alarms.snsTopicArn: must match ^arn:aws[a-z\\-]*:sns:"),
    ({"snsTopicArn": TOPIC, "periodSeconds": 45}, "alarms.periodSeconds: must be one of 60, 300, 900 or 3600 (got 45)"),
    ({"snsTopic": TOPIC}, "alarms.snsTopic: unknown key"),
])
def test_alarm_rules(raw: dict[str, Any], alarms: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_stack({**raw, "alarms": alarms})
    assert expected in caught.value.report()


def test_disabled_alarms_need_no_topic(tmp_path: Path) -> None:
    recording = plan_stack(str(write_modified_stack(tmp_path, "prod", {"alarms": {"enabled": False}})))
    assert not recording.by_type(ALARM)
