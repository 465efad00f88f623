"""RDS IAM authentication for the server: its IRSA role (given, or created from the cluster's OIDC provider) and
the ``rds-db:connect`` policy for its database user.

Sources: Amazon RDS User Guide, "Creating and using an IAM policy for IAM database access" (the resource
``arn:<partition>:rds-db:<region>:<account>:dbuser:<DbiResourceId>/<db-user>``); Amazon EKS User Guide, "Assign
IAM roles to Kubernetes service accounts" (the trust policy: ``sts:AssumeRoleWithWebIdentity`` from the OIDC
provider, conditions on ``<issuer>:sub`` = ``system:serviceaccount:<namespace>:<name>`` and ``<issuer>:aud`` =
``sts.amazonaws.com``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi
import pulumi_aws as aws

from . import naming

POLICY_NAME_MAX = 128
"""IAM PutRolePolicy PolicyName: 1-128 of letters, digits and +=,.@_- (unique per role: one per server on a
shared role)."""
T = TypeVar("T")


def connect_resource(instance_arn: str, resource_id: str, user: str) -> str:
    """The ``rds-db:connect`` resource of ``user`` on the instance (its partition, region and account read from the
    instance's ARN ``arn:<partition>:rds:<region>:<account>:db:<identifier>``)."""
    _, partition, _, region, account, *_ = instance_arn.split(":")
    return f"arn:{partition}:rds-db:{region}:{account}:dbuser:{resource_id}/{user}"


def allow_policy(action: str, resource: str | list[str]) -> str:
    """The policy document allowing ``action`` on ``resource`` (one ARN or a list of them)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": resource}]})


def allow_inline(name: str, suffix: str, role: pulumi.Input[str], action: str, source: pulumi.Output[T],
                 resource: Callable[[T], str | list[str]], *, parent: pulumi.Resource) -> aws.iam.RolePolicy:
    """``action`` on ``resource(source)`` for the role named ``role``, as its inline policy ``<name>-<suffix>``
    (the logical name ends in ``-<suffix>`` too)."""
    return aws.iam.RolePolicy(
        f"{naming.logical(name)}-{suffix}",
        name=naming.fit(f"{name}-{suffix}", POLICY_NAME_MAX),
        role=role,
        policy=source.apply(lambda value: allow_policy(action, resource(value))),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def irsa_trust_policy(oidc_provider_arn: str, namespace: str, service_account: str) -> str:
    """The trust policy of a role only this namespace's ``service_account`` may assume."""
    issuer = oidc_provider_arn.split(":oidc-provider/", 1)[1]
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": oidc_provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                       f"{issuer}:aud": "sts.amazonaws.com"}},
    }]})


def role_name(role_arn: str) -> str:
    """The name of a role from its ARN (``arn:aws:iam::123456789012:role/path/name`` → ``name``)."""
    return role_arn.split(":role/", 1)[1].rsplit("/", 1)[-1]


def server_role(name: str, oidc_provider_arn: pulumi.Input[str], namespace: str, service_account: str, *,
                parent: pulumi.Resource, tags: Mapping[str, Any], stem: str | None = None) -> aws.iam.Role:
    """The server's IRSA role, trusting only its service account (named from ``stem`` when names are pinned)."""
    scoped = naming.stem_of(name, stem)
    return aws.iam.Role(
        f"{naming.logical(name)}-server",
        name=naming.physical(naming.IAM_ROLE, scoped, "-server"),
        assume_role_policy=pulumi.Output.from_input(oidc_provider_arn).apply(
            lambda arn: irsa_trust_policy(arn, namespace, service_account)),
        description=f"IRSA role of the Agent Server {name}",
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def allow_connect(name: str, role: pulumi.Input[str], instance: aws.rds.Instance, user: str, *,
                  parent: pulumi.Resource) -> aws.iam.RolePolicy:
    """``rds-db:connect`` as ``user`` on ``instance`` for the role named ``role``, as an inline policy of it."""
    return allow_inline(name, "rds-connect", role, "rds-db:connect",
                        pulumi.Output.all(instance.arn, instance.resource_id),
                        lambda values: connect_resource(values[0], values[1], user), parent=parent)
