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
    sources: list[tuple[str, str, dict[str, str]]] = [
        (f"sg-{index}", group_id, {"referenced_security_group_id": group_id})
        for index, group_id in enumerate(network.client_security_group_ids)
    ]
    sources += [
        (f"cidr-{index}", cidr, {"cidr_ipv6" if ipaddress.ip_network(cidr).version == 6 else "cidr_ipv4": cidr})
        for index, cidr in enumerate(network.client_cidrs)
    ]
    for suffix, source, peer in sources:
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-{suffix}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{purpose} from {source}",
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=group),
            **peer,
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
