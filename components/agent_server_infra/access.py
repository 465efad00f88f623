"""A data store's security group: one port, reachable only from the configured clients."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from .config import NetworkConfig


def client_security_group(
    name: str,
    *,
    network: NetworkConfig,
    port: int,
    purpose: str,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
) -> aws.ec2.SecurityGroup:
    """A security group with ingress on ``port`` from each client security group and CIDR, and nothing else.

    Rules are separate ``SecurityGroupIngressRule`` resources (one per source) so adding a client is an
    in-place change, and the group itself has no inline rules and no egress: data stores never dial out.
    """
    group = aws.ec2.SecurityGroup(
        f"{name}-sg",
        vpc_id=network.vpc_id,
        description=f"{purpose}: port {port} from the Agent Server's clients only",
        ingress=[],
        egress=[],
        revoke_rules_on_delete=True,
        tags={**tags, "Name": f"{name}-sg"},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    for index, source in enumerate(network.client_security_group_ids):
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-sg-{index}",
            security_group_id=group.id,
            referenced_security_group_id=source,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{purpose} from {source}",
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=group),
        )
    for index, cidr in enumerate(network.client_cidrs):
        is_v6 = ipaddress.ip_network(cidr).version == 6
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-cidr-{index}",
            security_group_id=group.id,
            cidr_ipv4=None if is_v6 else cidr,
            cidr_ipv6=cidr if is_v6 else None,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{purpose} from {cidr}",
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=group),
        )
    return group


def resource_id(name: str, limit: int) -> str:
    """An AWS identifier from a Pulumi name: lowercase letters, digits and single hyphens, ≤ ``limit``."""
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in name.lower())
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    cleaned = cleaned.strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"a-{cleaned}"
    return cleaned[:limit].rstrip("-")
