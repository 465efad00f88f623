"""Components composed from Outputs of the user's own infrastructure: every Input-typed field reaches the right
resource input, an Output is validated when it resolves, and children honour the caller's providers."""

from __future__ import annotations

import re
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from agent_server_infra import AgentServer, AgentServerArgs, Postgres, Redis
from agent_server_infra.plan import engine
from agent_server_infra.plan.engine import RecordedResource, Recording

KMS = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ROLE = "arn:aws:iam::123456789012:role/agents"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/66666666-7777-8888-9999-000000000000"
VALUES = {
    "vpc": "vpc-0aaaaaaaaaaaaaaa1", "subnet-a": "subnet-0aaaaaaaaaaaaaaa2", "subnet-b": "subnet-0aaaaaaaaaaaaaaa3",
    "sg": "sg-0aaaaaaaaaaaaaaa4", "cidr": "10.77.0.0/16", "image": "registry.example.com/agents:9.9.9",
    "host": "agents.example.org", "extra": "from-an-output", "license": "lic-from-secrets-manager",
}


def out(value: Any) -> pulumi.Output[Any]:
    """A value only known later, as another resource's output would be."""
    return pulumi.Output.from_input(value).apply(lambda resolved: resolved)


def args_with_outputs(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "network": {"vpc_id": out(VALUES["vpc"]), "subnet_ids": out([VALUES["subnet-a"], VALUES["subnet-b"]]),
                    "client_security_group_ids": [out(VALUES["sg"])], "client_cidrs": [out(VALUES["cidr"])]},
        "postgres": {"instance_class": "db.t4g.medium", "kms_key_id": out(KMS)},
        "redis": {"mode": "single", "kms_key_id": out(KMS)},
        "server": {"image": out(VALUES["image"]), "server_version": "0.16.7", "namespace": "agents",
                   "service_account_role_arn": out(ROLE),
                   "ingress": {"host": out(VALUES["host"]), "class_name": "alb", "certificate_arn": out(CERT)},
                   "network_policy": {"ingress_cidrs": [out("10.0.0.0/16")]},
                   "extra_env": {"FEATURE_FLAG": out(VALUES["extra"])}},
        "license_key": pulumi.Output.secret(out(VALUES["license"])),
    }
    for path, value in overrides.items():
        section, key = path.split(".", 1)
        args[section][key] = value
    return args


def build(args: dict[str, Any]) -> Recording:
    return engine.run(lambda: AgentServer("composed", cast(AgentServerArgs, args)) and None)


def of(recording: Recording, type_: str, name_part: str = "") -> RecordedResource:
    found = [r for r in recording.by_type(type_) if name_part in r.name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


@pytest.fixture(scope="module")
def composed() -> Recording:
    return build(args_with_outputs())


def test_network_outputs_reach_the_data_stores(composed: Recording) -> None:
    for group in composed.by_type("aws:ec2/securityGroup:SecurityGroup"):
        assert group.plain_inputs["vpcId"] == VALUES["vpc"]
    for type_ in ("aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup"):
        assert of(composed, type_).plain_inputs["subnetIds"] == [VALUES["subnet-a"], VALUES["subnet-b"]]
    rules = composed.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert len(rules) == 4
    assert {r.plain_inputs.get("referencedSecurityGroupId") for r in rules} == {VALUES["sg"], None}
    assert {r.plain_inputs.get("cidrIpv4") for r in rules} == {VALUES["cidr"], None}
    assert all(r.plain_inputs["description"].endswith((VALUES["sg"], VALUES["cidr"])) for r in rules)


def test_kms_keys_reach_both_stores(composed: Recording) -> None:
    assert of(composed, "aws:rds/instance:Instance").plain_inputs["kmsKeyId"] == KMS
    assert of(composed, "aws:elasticache/replicationGroup:ReplicationGroup").plain_inputs["kmsKeyId"] == KMS


def test_workload_outputs_reach_the_kubernetes_objects(composed: Recording) -> None:
    for deployment in composed.by_type("kubernetes:apps/v1:Deployment"):
        assert deployment.plain_inputs["spec"]["template"]["spec"]["containers"][0]["image"] == VALUES["image"]
    account = of(composed, "kubernetes:core/v1:ServiceAccount").plain_inputs
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == ROLE
    ingress = of(composed, "kubernetes:networking.k8s.io/v1:Ingress").plain_inputs
    assert ingress["spec"]["rules"][0]["host"] == VALUES["host"]
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"] == CERT
    for config_map in composed.by_type("kubernetes:core/v1:ConfigMap"):
        assert config_map.plain_inputs["data"]["FEATURE_FLAG"] == VALUES["extra"]


def test_a_secret_output_stays_secret_and_reaches_the_secret(composed: Recording) -> None:
    secret = of(composed, "kubernetes:core/v1:Secret")
    assert isinstance(secret.inputs["stringData"], engine.Secret)
    assert secret.plain_inputs["stringData"]["LANGGRAPH_CLOUD_LICENSE_KEY"] == VALUES["license"]
    for resource in composed.resources:
        if resource.type != "kubernetes:core/v1:Secret":
            assert VALUES["license"] not in str(resource.inputs)


@pytest.mark.parametrize(("path", "value", "message"), [
    ("network.subnet_ids", ["subnet-0aaaaaaaaaaaaaaa2"] * 2, "agent-server:network.subnetIds: must list distinct"),
    ("network.subnet_ids", ["subnet-0aaaaaaaaaaaaaaa2"], "agent-server:network.subnetIds: must have at least 2"),
    ("server.image", "registry.example.com/agents", "agent-server:server.image: must pin a tag or digest"),
])
def test_an_output_is_validated_when_it_resolves(path: str, value: Any, message: str) -> None:
    """The update fails with the message and path a stack file's value would get (the SDK reports a failed
    input as a ValueError that carries the ConfigError's report)."""
    with pytest.raises(ValueError, match=re.escape(f"AgentServer composed: {message}")):
        build(args_with_outputs(**{path: out(value)}))


def test_an_ec2_id_of_another_shape_from_an_output_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """EC2 refuses a malformed id itself, and unit-test mocks give ``<name>_id``: the id goes on, with a warning
    naming the key, the rule and the value."""
    recording = build(args_with_outputs(**{"network.vpc_id": out("vpc_id")}))
    assert {group.plain_inputs["vpcId"] for group in recording.by_type("aws:ec2/securityGroup:SecurityGroup")} == {
        "vpc_id"}
    assert ("AgentServer composed: warning: agent-server:network.vpcId: must match ^vpc-[0-9a-f]{8,17}$ "
            "(got 'vpc_id')") in caplog.text


def test_an_output_the_engine_leaves_empty_is_unknown_not_invalid() -> None:
    """A computed output unit-test mocks do not return resolves to None: it is unknown (as in a preview), so
    nothing built from it is registered with a made-up value, and no rule fails on it."""
    recording = build(args_with_outputs(**{"server.image": out(None)}))
    for deployment in recording.by_type("kubernetes:apps/v1:Deployment"):
        [container] = deployment.plain_inputs["spec"]["template"]["spec"]["containers"]
        assert "image" not in container


def test_a_bad_secret_output_fails_with_its_key() -> None:
    args = args_with_outputs()
    args["postgres"] = {"mode": "external", "max_connections": 200}
    args["postgres_uri"] = pulumi.Output.secret(out("mysql://elsewhere/db"))
    with pytest.raises(ValueError, match=re.escape("AgentServer composed: agent-server:postgresUri: must be a "
                                                   "postgresql://")):
        build(args)


def test_children_honour_the_callers_providers() -> None:
    def program() -> None:
        aws_eu = aws.Provider("eu", region="eu-west-1")
        cluster = k8s.Provider("eks", kubeconfig="{}")
        AgentServer("routed", cast(AgentServerArgs, args_with_outputs()),
                    pulumi.ResourceOptions(providers={"aws": aws_eu, "kubernetes": cluster}))
        Postgres("alone", {"network": {"vpc_id": "vpc-0aaaaaaaaaaaaaaa1",
                                       "subnet_ids": ["subnet-0aaaaaaaaaaaaaaa2", "subnet-0aaaaaaaaaaaaaaa3"],
                                       "client_cidrs": ["10.0.0.0/8"]}},
                 pulumi.ResourceOptions(providers={"aws": aws_eu}))
        Redis("cache", {"redis": {"mode": "external", "max_clients": 1000}, "redis_uri": "rediss://:t@c:6379/0"},
              pulumi.ResourceOptions(providers={"aws": aws_eu}))

    recording = engine.run(program)
    eu = of(recording, "pulumi:providers:aws").urn
    eks = of(recording, "pulumi:providers:kubernetes").urn
    routed = [r for r in recording.resources if r.custom and not r.type.startswith(("pulumi:providers", "random:"))]
    assert len(routed) > 20
    for resource in routed:
        expected = eks if resource.type.startswith("kubernetes:") else eu
        assert resource.provider is not None
        assert resource.provider.startswith(expected), (resource.type, resource.name, resource.provider)


def test_every_secret_input_may_be_an_output_and_lands_in_the_secret() -> None:
    secrets = {"langsmith_api_key": "lsv2-from-vault", "datadog_api_key": "dd-from-vault",
               "mongodb_uri": "mongodb://u:p@mongo.internal:27017/agents", "otel_headers": "api-key=from-vault"}
    args = args_with_outputs()
    args["server"] = {**args["server"], "checkpointer_backend": "mongo", "datadog": {"enabled": True},
                      "otel": {"enabled": True, "endpoint": "https://otlp.example.com"},
                      "ingress": {"host": out(VALUES["host"]), "class_name": "nginx",
                                  "tls_secret_name": out("agents-tls")}}
    args.update({key: pulumi.Output.secret(out(value)) for key, value in secrets.items()})
    recording = build(args)
    data = of(recording, "kubernetes:core/v1:Secret").plain_inputs["stringData"]
    assert data["LANGSMITH_API_KEY"] == secrets["langsmith_api_key"]
    assert data["DD_API_KEY"] == secrets["datadog_api_key"]
    assert data["LS_MONGODB_URI"] == secrets["mongodb_uri"]
    assert data["OTEL_EXPORTER_OTLP_HEADERS"] == secrets["otel_headers"]
    ingress = of(recording, "kubernetes:networking.k8s.io/v1:Ingress").plain_inputs
    assert ingress["spec"]["tls"] == [{"hosts": [VALUES["host"]], "secretName": "agents-tls"}]
    for resource in recording.resources:
        if resource.type != "kubernetes:core/v1:Secret":
            assert not any(value in str(resource.inputs) for value in secrets.values()), resource.name


def test_an_external_redis_uri_output_reaches_the_server() -> None:
    args = args_with_outputs()
    args["redis"] = {"mode": "external", "max_clients": 10_000}
    args["redis_uri"] = pulumi.Output.secret(out("rediss://:tok@cache.internal:6380/4"))
    data = of(build(args), "kubernetes:core/v1:Secret").plain_inputs["stringData"]
    assert data["REDIS_URI"] == "rediss://:tok@cache.internal:6380/4"
