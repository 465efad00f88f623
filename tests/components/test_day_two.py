"""The knobs that make a change to a deployed stack safe, as the components send them: RDS applyImmediately,
allowMajorVersionUpgrade, blue/green and provisioned storage; ElastiCache applyImmediately, Multi-AZ and the AUTH
token's rotation; names pinned through a stack rename; cache-node alarms that follow the group's real members."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from agent_server_infra import AgentServer
from agent_server_infra.config import NamingConfig, PostgresConfig, RedisConfig
from agent_server_infra.errors import ConfigError
from agent_server_infra.inputs import settings_of
from agent_server_infra.plan import engine
from agent_server_infra.plan.engine import Recording
from agent_server_infra.postgres import LOGICAL_REPLICATION, Postgres
from agent_server_infra.redis import Redis
from agent_server_infra.validate import validate_stack
from tests.components.test_data_stores import NETWORK_SETTINGS, assert_real_arguments, pg, redis

RDS = "aws:rds/instance:Instance"
RDS_PARAMS = "aws:rds/parameterGroup:ParameterGroup"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def test_postgres_sends_the_day_two_knobs() -> None:
    recording = pg(applyImmediately=True, allowMajorVersionUpgrade=True, blueGreenUpdate=True, storageType="gp3",
                   allocatedStorageGb=400, iops=12000, storageThroughput=500)
    db = recording.one(RDS).plain_inputs
    assert (db["applyImmediately"], db["allowMajorVersionUpgrade"]) == (True, True)
    assert db["blueGreenUpdate"] == {"enabled": True}
    assert (db["iops"], db["storageThroughput"], db["allocatedStorage"]) == (12000, 500, 400)
    parameters = {p["name"]: p for p in recording.one(RDS_PARAMS).plain_inputs["parameters"]}
    assert parameters[LOGICAL_REPLICATION] == {"name": LOGICAL_REPLICATION, "value": "1",
                                               "applyMethod": "pending-reboot"}
    assert_real_arguments(recording, RDS, aws.rds.Instance)


def test_postgres_defaults_send_what_a_running_stack_already_has() -> None:
    db = pg().one(RDS).plain_inputs
    assert (db["applyImmediately"], db["allowMajorVersionUpgrade"]) == (False, False)
    assert "blueGreenUpdate" not in db
    assert "iops" not in db
    assert "storageThroughput" not in db


def test_redis_sends_apply_immediately_multi_az_and_the_token_strategy() -> None:
    group = redis(replicas=2, applyImmediately=True, multiAz=False).one(GROUP).plain_inputs
    assert group["applyImmediately"] is True
    assert (group["numCacheClusters"], group["automaticFailoverEnabled"], group["multiAzEnabled"]) == (3, True, False)
    assert group["authTokenUpdateStrategy"] == "ROTATE"
    cluster = redis(mode="cluster", shards=2, replicasPerShard=1, multiAz=False).one(GROUP).plain_inputs
    assert (cluster["automaticFailoverEnabled"], cluster["multiAzEnabled"]) == (True, False)


def test_a_new_token_version_generates_a_new_token_and_version_0_keeps_todays() -> None:
    unversioned = redis().one(PASSWORD).plain_inputs
    assert "keepers" not in unversioned, "a cache created before rotation existed keeps its token"
    rotated = redis(authTokenVersion=2, authTokenUpdateStrategy="SET")
    assert rotated.one(PASSWORD).plain_inputs["keepers"] == {"version": "2"}
    assert rotated.one(GROUP).plain_inputs["authTokenUpdateStrategy"] == "SET"


@pytest.mark.parametrize(("changes", "path"), [
    ({"postgres": {"storageType": "io1"}}, "postgres.iops"),
    ({"postgres": {"storageType": "io2", "iops": 500}}, "postgres.iops"),
    ({"postgres": {"storageType": "gp2", "iops": 3000}}, "postgres.iops"),
    ({"postgres": {"iops": 12000, "storageThroughput": 500}}, "postgres.iops"),
    ({"postgres": {"allocatedStorageGb": 400, "iops": 12000}}, "postgres.storageThroughput"),
    ({"postgres": {"allocatedStorageGb": 400, "iops": 12000, "storageThroughput": 4000}},
     "postgres.storageThroughput"),
    ({"postgres": {"storageType": "io1", "allocatedStorageGb": 100, "iops": 6000}}, "postgres.iops"),
    ({"postgres": {"blueGreenUpdate": True, "backupRetentionDays": 0, "deletionProtection": False}},
     "postgres.blueGreenUpdate"),
    ({"redis": {"mode": "single", "multiAz": True}}, "redis.multiAz"),
    ({"redis": {"mode": "single", "authTokenUpdateStrategy": "SET"}}, "redis.authTokenUpdateStrategy"),
    ({"redis": {"mode": "single", "nodeType": "cache.r6gd.xlarge"}}, "redis.nodeType"),
    ({"naming": {"name": "9-lives"}}, "naming.name"),
])
def test_what_aws_would_refuse_is_a_config_error(raw: dict[str, Any], changes: dict[str, Any], path: str) -> None:
    changed = {**raw, **{key: {**raw.get(key, {}), **values} for key, values in changes.items()}}
    with pytest.raises(ConfigError) as caught:
        validate_stack(changed)
    assert path in [issue.path for issue in caught.value.issues]


@pytest.mark.parametrize("changes", [
    {"postgres": {"storageType": "io1", "allocatedStorageGb": 100, "iops": 5000}},
    {"postgres": {"allocatedStorageGb": 400, "iops": 12000, "storageThroughput": 3000}},
    {"redis": {"mode": "single", "replicas": 1, "multiAz": False}},
    {"redis": {"mode": "single", "authTokenVersion": 1, "authTokenUpdateStrategy": "SET"}},
])
def test_what_aws_accepts_passes(raw: dict[str, Any], changes: dict[str, Any]) -> None:
    changed = {**raw, **{key: {**raw.get(key, {}), **values} for key, values in changes.items()}}
    assert validate_stack(changed).config


def _identifiers(recording: Recording) -> dict[str, str]:
    names = {"identifier": recording.one(RDS).plain_inputs["identifier"],
             "group": recording.one(GROUP).plain_inputs["replicationGroupId"]}
    roles = recording.by_type("aws:iam/role:Role")
    if roles:
        names["role"] = roles[0].plain_inputs["name"]
    return names


def _server(stack: str, name: str, pinned: str | None) -> Recording:
    def program() -> None:
        args: dict[str, Any] = {
            "network": NETWORK_SETTINGS, "postgres": {"instance_class": "db.t4g.medium"}, "redis": {"mode": "single"},
            "server": {"image": "registry.example.com/agents:1.2.3", "server_version": "0.16.7",
                       "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1."
                                            "amazonaws.com/id/ABC"},
            "license_key": pulumi.Output.secret("lic"),
        }
        if pinned:
            args["naming"] = settings_of(NamingConfig, {"name": pinned})
        AgentServer(name, args)  # type: ignore[arg-type]

    return engine.run(program, project="agents", stack=stack)


def test_a_pinned_name_keeps_every_physical_name_through_a_stack_rename() -> None:
    before = _identifiers(_server("prod", "support", None))
    assert before == {"identifier": "agents-prod-support-postgres", "group": "agents-prod-support-redis",
                      "role": "agents-prod-support-server"}
    assert _identifiers(_server("prod-eu", "support", None)) != before, "unpinned names follow the stack"
    assert _identifiers(_server("prod-eu", "support", "agents-prod-support")) == before
    assert _identifiers(_server("prod", "help-desk", "agents-prod-support")) == before, "and a renamed component"


def test_stores_pin_their_own_names() -> None:
    def program() -> None:
        naming = settings_of(NamingConfig, {"name": "shared-cache"})
        Redis("cache", {"redis": settings_of(RedisConfig, {}), "network": NETWORK_SETTINGS, "naming": naming})
        Postgres("db", {"postgres": settings_of(PostgresConfig, {}), "network": NETWORK_SETTINGS,
                        "naming": settings_of(NamingConfig, {"name": "shared-db"})})

    recording = engine.run(program, project="p", stack="renamed")
    assert recording.one(GROUP).plain_inputs["replicationGroupId"] == "shared-cache"
    assert recording.one(RDS).plain_inputs["identifier"] == "shared-db"


class _MembersWithGaps(engine.RecordingMocks):
    """A replication group whose replicas were removed and added again: ElastiCache numbered the new one -004."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        if args.typ == GROUP:
            group = state["replicationGroupId"]
            state["memberClusters"] = [f"{group}-004", f"{group}-001", f"{group}-002"]
        return resource_id, state


def test_cache_node_alarms_watch_the_members_elasticache_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "RecordingMocks", _MembersWithGaps)

    def program() -> None:
        AgentServer("agents", {  # type: ignore[arg-type]
            "network": NETWORK_SETTINGS, "postgres": {"instance_class": "db.t4g.medium"},
            "redis": {"mode": "single", "replicas": 2},
            "server": {"image": "registry.example.com/agents:1.2.3"},
            "alarms": {"sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:alarms"},
            "license_key": pulumi.Output.secret("lic"),
        })

    recording = engine.run(program, project="p", stack="s")
    group = recording.one(GROUP).outputs["replicationGroupId"]
    watched = {alarm.plain_inputs["dimensions"]["CacheClusterId"] for alarm in recording.by_type(ALARM)
               if "CacheClusterId" in alarm.plain_inputs["dimensions"]}
    assert watched == {f"{group}-001", f"{group}-002", f"{group}-004"}, "not the shape's -003"
