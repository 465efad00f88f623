"""A data store's security group: one port, reachable only from the configured clients."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_aws.vpc.security_group_ingress_rule import SecurityGroupIngressRule  # the module, not all of aws.vpc

from .config import NetworkConfig
from .provider_rules import SECURITY_GROUP_DESCRIPTION, SECURITY_GROUP_RULE_DESCRIPTION, check_text


def client_security_group(
    name: str,
    *,
    network: NetworkConfig,
    port: int,
    purpose: str,
    parent: pulumi.Resource,
    tags: Mapping[str, Any],
) -> aws.ec2.SecurityGroup:
    """A security group with ingress on ``port`` from each client security group and CIDR, and nothing else.

    One mechanism per direction, so a refresh never makes two of them fight over the same rules
    (pulumi/pulumi-aws#2391: an inline ``ingress`` list beside separate rule resources revokes them on alternate
    deploys): ingress is only separate ``SecurityGroupIngressRule`` resources (one per source, so adding a client
    is an in-place change) and the group leaves ``ingress`` unset; egress is only the inline, empty list: data
    stores never dial out.
    """
    description = f"{purpose}: port {port} from the Agent Server clients only"
    check_text(SECURITY_GROUP_DESCRIPTION, description)
    group = aws.ec2.SecurityGroup(
        f"{name}-sg",
        vpc_id=network.vpc_id,
        description=description,
        egress=[],
        revoke_rules_on_delete=True,
        tags={**tags, "Name": f"{name}-sg"},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    sources: list[tuple[str, pulumi.Input[str], dict[str, Any]]] = [
        (f"sg-{index}", group_id, {"referenced_security_group_id": group_id})
        for index, group_id in enumerate(network.client_security_group_ids)
    ]
    sources += [(f"cidr-{index}", cidr, cidr_peer(cidr)) for index, cidr in enumerate(network.client_cidrs)]
    for suffix, source, peer in sources:
        SecurityGroupIngressRule(
            f"{name}-from-{suffix}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=pulumi.Output.from_input(source).apply(
                lambda text: check_text(SECURITY_GROUP_RULE_DESCRIPTION, f"{purpose} from {text}")),
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=group),
            **peer,
        )
    return group


def _version(cidr: str) -> int:
    return ipaddress.ip_network(cidr).version


def cidr_peer(cidr: pulumi.Input[str]) -> dict[str, Any]:
    """``cidr_ipv4`` or ``cidr_ipv6`` for a client CIDR; for an Output, both, one of them resolving to nothing."""
    if isinstance(cidr, str):
        return {"cidr_ipv6" if _version(cidr) == 6 else "cidr_ipv4": cidr}
    output = pulumi.Output.from_input(cidr)
    return {"cidr_ipv4": output.apply(lambda text: text if _version(text) == 4 else None),
            "cidr_ipv6": output.apply(lambda text: text if _version(text) == 6 else None)}
