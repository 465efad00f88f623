"""The examples/with-vpc program under mocks: components composed from the Outputs of a VPC, subnets, a node
security group and a generated password, with secure values of the program's own namespace."""

from __future__ import annotations

from agent_server_infra.plan.engine import Recording, Secret
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "with-vpc"


def plan() -> Recording:
    return plan_stack(str(EXAMPLE / "Pulumi.dev.yaml"))


def test_servers_are_built_on_the_programs_own_network() -> None:
    recording = plan()
    vpc = recording.one("aws:ec2/vpc:Vpc").outputs["id"]
    subnets = sorted(subnet.outputs["id"] for subnet in recording.by_type("aws:ec2/subnet:Subnet"))
    nodes = recording.one("aws:ec2/securityGroup:SecurityGroup", "nodes").outputs["id"]
    stores = [r for r in recording.by_type("aws:ec2/securityGroup:SecurityGroup") if r.name != "nodes"]
    assert len(stores) == 2  # the RDS instance of `agents` and the shared Redis
    for group in stores:
        assert group.plain_inputs["vpcId"] == vpc
    for type_ in ("aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup"):
        assert sorted(recording.one(type_).plain_inputs["subnetIds"]) == subnets
    rules = recording.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert {rule.plain_inputs["referencedSecurityGroupId"] for rule in rules} == {nodes}
    assert len(recording.by_type("aws:rds/instance:Instance")) == 1, "reports uses its external database"
    assert len(recording.by_type("aws:elasticache/replicationGroup:ReplicationGroup")) == 1


def test_the_external_uri_built_from_a_password_stays_secret() -> None:
    recording = plan()
    password = recording.one("random:index/randomPassword:RandomPassword", "reports-db").plain_inputs
    assert password["length"] == 32
    secrets = [r for r in recording.by_type("kubernetes:core/v1:Secret") if r.name.startswith("reports")]
    assert len(secrets) == 1
    assert isinstance(secrets[0].inputs["stringData"], Secret)
    uri = secrets[0].plain_inputs["stringData"]["DATABASE_URI"]
    assert uri.startswith("postgresql://reports:")
    assert uri.endswith("@reports-db.internal.example.com:5432/reports?sslmode=require")
    license_key = secrets[0].plain_inputs["stringData"]["LANGGRAPH_CLOUD_LICENSE_KEY"]
    assert license_key == "[secret:with-vpc:licenseKey]", "a secure value of any namespace is a placeholder"


def test_the_shared_redis_budget_sums_both_servers() -> None:
    budget = plan().outputs["redisBudget"]
    assert budget["inputs"]["deployments"] == 2
    assert budget["used"] == budget["inputs"]["agents.pods"] * budget["inputs"]["agents.max_connections"] + \
        budget["inputs"]["reports.pods"] * budget["inputs"]["reports.max_connections"]
