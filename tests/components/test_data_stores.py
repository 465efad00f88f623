"""Postgres and Redis components under mocks: every property on the recorded inputs, secrets kept secret."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from agent_server_infra.config import NetworkConfig, PostgresConfig, RedisConfig
from agent_server_infra.inputs import settings_of
from agent_server_infra.plan import engine
from agent_server_infra.plan.engine import Recording, Secret
from agent_server_infra.postgres import Postgres
from agent_server_infra.redis import Redis
from tests.helpers import NETWORK

RDS = "aws:rds/instance:Instance"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
NETWORK_SETTINGS = settings_of(NetworkConfig, {**NETWORK, "clientCidrs": ["10.20.0.0/16", "fd00::/8"]})


def record(build: Any) -> Recording:
    def program() -> None:
        component = build()
        pulumi.export("uri", component.uri)
        pulumi.export("endpoint", getattr(component, "endpoint", getattr(component, "address", None)))

    return engine.run(program)


def pg(**values: Any) -> Recording:
    """A Postgres of the given settings (stack-config keys)."""
    settings = settings_of(PostgresConfig, values)
    return record(lambda: Postgres("db", {"postgres": settings, "network": NETWORK_SETTINGS}))


def redis(**values: Any) -> Recording:
    """A Redis of the given settings (stack-config keys)."""
    return record(lambda: Redis("cache", {"redis": settings_of(RedisConfig, values), "network": NETWORK_SETTINGS}))


def snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


def assert_real_arguments(recording: Recording, type_: str, cls: type) -> None:
    """Every recorded input is an argument of the installed pulumi-aws class (camelCase on the wire)."""
    accepted = set(inspect.signature(cls._internal_init).parameters)  # type: ignore[attr-defined]
    for resource in recording.by_type(type_):
        unknown = {key for key in resource.inputs if snake(key) not in accepted}
        assert not unknown, f"{type_} got inputs the provider does not know: {unknown}"


def no_plain_secret(recording: Recording, secret: str) -> None:
    for resource in recording.resources:
        plain = json.dumps(resource.inputs,
                           default=lambda value: "[secret]" if isinstance(value, Secret) else str(value))
        assert secret not in plain, f"{resource.type} {resource.name} carries the secret in plain text"


def test_rds_dev_shape() -> None:
    rec = pg(instanceClass="db.t4g.medium", engineVersion="16", maxAllocatedStorageGb=50)
    db = rec.one(RDS).inputs
    assert db["engine"] == "postgres"
    assert db["engineVersion"] == "16"
    assert db["autoMinorVersionUpgrade"] is True
    # physical names carry project and stack: "db" in project agent-server, stack dev
    assert db["identifier"] == "agent-server-dev-db"
    assert db["instanceClass"] == "db.t4g.medium"
    assert db["storageEncrypted"] is True
    assert db["publiclyAccessible"] is False
    assert db["multiAz"] is False
    assert db["deletionProtection"] is True
    assert db["skipFinalSnapshot"] is False
    suffix = rec.one("random:index/randomId:RandomId").outputs["hex"]
    assert len(suffix) == 8
    assert db["finalSnapshotIdentifier"] == f"agent-server-dev-db-final-{suffix}"
    assert db["copyTagsToSnapshot"] is True
    assert db["backupRetentionPeriod"] == 7
    assert db["backupWindow"] == "03:00-04:00"
    assert db["maintenanceWindow"] == "sun:04:30-sun:05:30"
    assert db["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert db["maxAllocatedStorage"] == 50
    assert db["performanceInsightsEnabled"] is False
    assert isinstance(db["password"], Secret)
    assert rec.one(RDS).protect is False
    params = rec.one("aws:rds/parameterGroup:ParameterGroup").inputs
    assert params["family"] == "postgres16"
    assert {(p["name"], p["value"]) for p in params["parameters"]} == {("rds.force_ssl", "1")}
    assert db["parameterGroupName"] == rec.one("aws:rds/parameterGroup:ParameterGroup").outputs["name"]
    assert db["dbSubnetGroupName"] == rec.one("aws:rds/subnetGroup:SubnetGroup").outputs["name"]
    assert rec.one("aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"] == NETWORK["subnetIds"]
    for type_, cls in ((RDS, aws.rds.Instance), ("aws:rds/parameterGroup:ParameterGroup", aws.rds.ParameterGroup),
                       ("aws:rds/subnetGroup:SubnetGroup", aws.rds.SubnetGroup),
                       ("aws:ec2/securityGroup:SecurityGroup", aws.ec2.SecurityGroup),
                       ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                        aws.vpc.SecurityGroupIngressRule)):
        assert_real_arguments(rec, type_, cls)


def test_rds_prod_shape() -> None:
    kms = "arn:aws:kms:us-east-1:123456789012:key/abc"
    rec = pg(instanceClass="db.r6g.large", engineVersion="15.13", autoMinorVersionUpgrade=False, multiAz=True,
             backupRetentionDays=14, performanceInsights=True, kmsKeyId=kms, protect=True, maxConnections=1200)
    db = rec.one(RDS)
    assert db.protect is True
    assert db.inputs["multiAz"] is True
    assert db.inputs["kmsKeyId"] == kms
    assert db.inputs["performanceInsightsEnabled"] is True
    assert db.inputs["performanceInsightsRetentionPeriod"] == 7
    assert (db.inputs["engineVersion"], db.inputs["autoMinorVersionUpgrade"]) == ("15.13", False)
    params = rec.one("aws:rds/parameterGroup:ParameterGroup").inputs
    assert params["family"] == "postgres15"
    assert {"name": "max_connections", "value": "1200", "applyMethod": "pending-reboot"} in params["parameters"]


def test_security_group_admits_only_clients_on_the_port() -> None:
    rec = pg()
    group = rec.one("aws:ec2/securityGroup:SecurityGroup")
    # ingress is only the separate rules (an inline list beside them is revoked after a refresh); egress is the
    # inline empty list and nothing else
    assert "ingress" not in group.inputs
    assert group.inputs["egress"] == []
    rules = rec.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    sources = sorted(str(r.inputs.get("referencedSecurityGroupId") or r.inputs.get("cidrIpv4")
                         or r.inputs.get("cidrIpv6")) for r in rules)
    assert sources == sorted(["sg-0123456789abcdef3", "10.20.0.0/16", "fd00::/8"])
    for rule in rules:
        assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (5432, 5432, "tcp")
        assert rule.inputs["securityGroupId"] == group.outputs["id"]


def test_postgres_outputs_are_secret_and_encode_the_password() -> None:
    rec = pg()
    assert isinstance(rec.outputs["uri"], Secret)
    password = engine.reveal(rec.one("random:index/randomPassword:RandomPassword").outputs["result"])
    assert password in rec.outputs["uri"].value
    assert rec.outputs["uri"].value.endswith("/langgraph?sslmode=require")
    no_plain_secret(rec, password)


def test_generated_password_is_url_safe() -> None:
    rec = pg()
    spec = rec.one("random:index/randomPassword:RandomPassword").inputs
    assert spec["overrideSpecial"] == "-_.~"
    assert spec["length"] >= 32


@pytest.mark.parametrize(("replicas", "failover"), [(0, False), (1, True), (5, True)])
def test_redis_single_mode(replicas: int, failover: bool) -> None:
    rec = redis(mode="single", replicas=replicas, nodeType="cache.r7g.large")
    group = rec.one(GROUP).inputs
    assert group["numCacheClusters"] == 1 + replicas
    assert group["automaticFailoverEnabled"] is failover
    assert group["multiAzEnabled"] is failover
    assert "clusterMode" not in group
    assert group["transitEncryptionEnabled"] is True
    assert group["transitEncryptionMode"] == "required"
    assert group["atRestEncryptionEnabled"] is True
    assert isinstance(group["authToken"], Secret)
    assert group["snapshotRetentionLimit"] == 1
    suffix = rec.one("random:index/randomId:RandomId").outputs["hex"]
    assert group["finalSnapshotIdentifier"] == f"agent-server-dev-cache-final-{suffix}"
    assert group["replicationGroupId"] == "agent-server-dev-cache"
    assert group["logDeliveryConfigurations"][0]["logType"] == "slow-log"
    assert group["logDeliveryConfigurations"][0]["destination"] == rec.one(
        "aws:cloudwatch/logGroup:LogGroup").inputs["name"]
    params = {p["name"]: p["value"] for p in rec.one("aws:elasticache/parameterGroup:ParameterGroup").inputs[
        "parameters"]}
    assert "cluster-enabled" not in params
    assert params["maxmemory-policy"] == "noeviction"
    assert rec.outputs["endpoint"].startswith("master.")
    uri = rec.outputs["uri"]
    assert isinstance(uri, Secret)
    assert uri.value.startswith("rediss://:")
    assert uri.value.endswith(":6379/0")
    for type_, cls in ((GROUP, aws.elasticache.ReplicationGroup),
                       ("aws:elasticache/parameterGroup:ParameterGroup", aws.elasticache.ParameterGroup),
                       ("aws:elasticache/subnetGroup:SubnetGroup", aws.elasticache.SubnetGroup),
                       ("aws:cloudwatch/logGroup:LogGroup", aws.cloudwatch.LogGroup)):
        assert_real_arguments(rec, type_, cls)


def test_redis_cluster_mode() -> None:
    rec = redis(mode="cluster", shards=4, replicasPerShard=2, nodeType="cache.r7g.large", protect=True)
    group = rec.one(GROUP)
    assert group.protect is True
    assert group.inputs["clusterMode"] == "enabled"
    assert group.inputs["numNodeGroups"] == 4
    assert group.inputs["replicasPerNodeGroup"] == 2
    assert group.inputs["automaticFailoverEnabled"] is True
    assert "numCacheClusters" not in group.inputs
    params = {p["name"]: p["value"] for p in rec.one("aws:elasticache/parameterGroup:ParameterGroup").inputs[
        "parameters"]}
    assert params["cluster-enabled"] == "yes"
    assert rec.one("aws:elasticache/parameterGroup:ParameterGroup").inputs["family"] == "redis7"
    assert rec.outputs["endpoint"].startswith("clustercfg.")
    assert rec.outputs["uri"].value.endswith(":6379"), "cluster mode has no database path"


def test_redis_token_never_plain() -> None:
    rec = redis(mode="single", replicas=1)
    token = engine.reveal(rec.one("random:index/randomPassword:RandomPassword").outputs["result"])
    assert rec.one("random:index/randomPassword:RandomPassword").inputs["overrideSpecial"] == "-"
    no_plain_secret(rec, token)
    assert rec.one(GROUP).inputs["authToken"] == Secret(token)


def test_redis_and_postgres_never_depend_on_each_other() -> None:
    def program() -> None:
        Postgres("db", {"network": NETWORK_SETTINGS})
        Redis("cache", {"network": NETWORK_SETTINGS})

    rec = engine.run(program)
    pg_urns = {r.urn for r in rec.resources if r.name.startswith("db")}
    redis_urns = {r.urn for r in rec.resources if r.name.startswith("cache")}
    for resource in rec.resources:
        if resource.urn in pg_urns:
            assert not set(resource.dependencies) & redis_urns
        if resource.urn in redis_urns:
            assert not set(resource.dependencies) & pg_urns


def test_external_mode_creates_nothing() -> None:
    postgres_uri = "postgresql://app:p%40ss@db.example.com:6432/agents?sslmode=require"
    redis_uri = "rediss://:tok@cache.example.com:6380/2"

    def program() -> None:
        postgres = Postgres("db", {"postgres": {"mode": "external", "max_connections": 300},
                                   "postgres_uri": pulumi.Output.secret(postgres_uri)})
        cache = Redis("cache", {"redis": {"mode": "external", "max_clients": 10000, "cluster": False},
                                "redis_uri": redis_uri})
        pulumi.export("pg", postgres.uri)
        pulumi.export("pw", postgres.password)
        pulumi.export("redis", cache.uri)
        pulumi.export("host", postgres.address)

    rec = engine.run(program)
    assert {r.type for r in rec.resources} == {"agent-server-infra:index:Postgres", "agent-server-infra:index:Redis"}
    assert rec.outputs["pg"] == Secret("postgresql://app:p%40ss@db.example.com:6432/agents?sslmode=require")
    assert rec.outputs["pw"] == Secret("p@ss")
    assert rec.outputs["redis"] == Secret("rediss://:tok@cache.example.com:6380/2")
    # the parts of a secret URI stay secret: the URI may be an Output of another resource, read only when it resolves
    assert rec.outputs["host"] == Secret("db.example.com")
