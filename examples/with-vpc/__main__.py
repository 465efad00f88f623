"""Agent Servers composed with the infrastructure around them: this program creates a VPC, two private subnets
and the node security group, and passes their Outputs to the components.

`agents` gets an RDS instance and shares its Redis with `reports`, whose Postgres is an external database: its
URI is a secret Output built from a password this program generates (as it would be from a secret store or
another stack). Every Output is validated by the components' rules when it resolves.
"""

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from agent_server_infra import AgentServer, NetworkSettings, Redis

config = pulumi.Config()
image = config.require("image")
license_key = config.require_secret("licenseKey")

vpc = aws.ec2.Vpc("agents", cidr_block="10.42.0.0/16", enable_dns_hostnames=True, enable_dns_support=True)
subnets = [
    aws.ec2.Subnet(f"private-{zone}", vpc_id=vpc.id, cidr_block=f"10.42.{index}.0/24", availability_zone=zone)
    for index, zone in enumerate(("us-east-1a", "us-east-1b"))
]
nodes = aws.ec2.SecurityGroup("nodes", vpc_id=vpc.id, description="EKS worker nodes")

network: NetworkSettings = {
    "vpc_id": vpc.id,
    "subnet_ids": [subnet.id for subnet in subnets],
    "client_security_group_ids": [nodes.id],
}
redis = Redis("shared", {"network": network, "redis": {"mode": "single", "replicas": 1}})

agents = AgentServer("agents", {
    "network": network,
    "postgres": {"instance_class": "db.t4g.medium"},
    "server": {"image": image, "server_version": "0.16.7", "namespace": "agents", "redis_key_prefix": "agents:"},
    "license_key": license_key,
    "existing_redis": redis,
})

reports_password = random.RandomPassword("reports-db", length=32, special=False)
reports = AgentServer("reports", {
    "network": network,
    "postgres": {"mode": "external", "max_connections": 400},
    "postgres_uri": pulumi.Output.concat("postgresql://reports:", reports_password.result,
                                         "@reports-db.internal.example.com:5432/reports?sslmode=require"),
    "server": {"image": image, "server_version": "0.16.7", "namespace": "reports", "redis_key_prefix": "reports:"},
    "license_key": license_key,
    "existing_redis": redis,
})

pulumi.export("agentsUrl", agents.url)
pulumi.export("reportsUrl", reports.url)
pulumi.export("redisBudget", pulumi.Output.from_input(redis.budget()))
