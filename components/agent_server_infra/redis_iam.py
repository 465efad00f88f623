"""ElastiCache IAM authentication for the server's Redis: the user group a replication group authenticates with
(RBAC instead of the AUTH token), its users, and the server role's ``elasticache:Connect`` policy.

The group holds two users: the ``default`` user every user group must have, switched off (``off -@all``, a
generated password it never uses: a Valkey user group takes only users that authenticate), so a client that
sends no user name gets nothing; and the IAM user the server connects as (user id = user name, authentication
type ``iam``, :data:`~agent_server_infra.provider_rules.IAM_ACCESS_STRING`). Every server on a shared Redis
connects as that one user: the access string cannot be narrowed to a server's key prefix (see its note), so
users per server would isolate nothing. Rules and sources: :mod:`agent_server_infra.provider_rules` (ElastiCache
IAM authentication).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from . import naming
from .config import RedisConfig
from .iam_auth import allow_inline
from .provider_rules import (
    DEFAULT_USER_NAME,
    DISABLED_ACCESS_STRING,
    IAM_ACCESS_STRING,
    elasticache_connect_resources,
)
from .stores import generated_password

DEFAULT_USER_PASSWORD_LENGTH = 32
IAM_AUTHENTICATION = "iam"


@dataclass(frozen=True)
class RedisIdentity:
    """The user group of an IAM-authenticated replication group and the IAM user the server connects as."""

    user_group: aws.elasticache.UserGroup
    user_id: str
    """The IAM user's id, which is also its user name (the one in the server's URI)."""


def user_id(config: RedisConfig, group_id: str) -> str:
    """The IAM user's id: ``redis.iamUserId``, else ``<replication group id>-server`` (a valid, account-unique
    id: the group id is)."""
    return config.iam_user_id or naming.physical(naming.ELASTICACHE_USER, group_id, "-server")


def user_group(name: str, config: RedisConfig, group_id: str, *, parent: pulumi.Resource,
               tags: Mapping[str, Any], password_specials: str) -> RedisIdentity:
    """The user group (its own disabled ``default`` user and the server's IAM user) for replication group
    ``group_id``; the group's id is the replication group's."""
    password = generated_password(f"{name}-default-user-password", parent, DEFAULT_USER_PASSWORD_LENGTH,
                                  password_specials)
    default_user = aws.elasticache.User(
        f"{name}-default-user",
        user_id=naming.physical(naming.ELASTICACHE_USER, group_id, "-default"),
        user_name=DEFAULT_USER_NAME,
        engine=config.engine,
        access_string=DISABLED_ACCESS_STRING,
        authentication_mode=aws.elasticache.UserAuthenticationModeArgs(type="password", passwords=[password.result]),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    server_id = user_id(config, group_id)
    server_user = aws.elasticache.User(
        f"{name}-iam-user",
        user_id=server_id,
        user_name=server_id,
        engine=config.engine,
        access_string=IAM_ACCESS_STRING,
        authentication_mode=aws.elasticache.UserAuthenticationModeArgs(type=IAM_AUTHENTICATION),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    group = aws.elasticache.UserGroup(
        f"{name}-users",
        user_group_id=naming.physical(naming.ELASTICACHE_USER_GROUP, group_id),
        engine=config.engine,
        user_ids=[default_user.user_id, server_user.user_id],
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return RedisIdentity(user_group=group, user_id=server_id)


def authentication_arguments(identity: RedisIdentity | None, token: pulumi.Input[str],
                             strategy: str = "ROTATE") -> dict[str, Any]:
    """The replication group's authentication: the AUTH token (changed with ``strategy``: ROTATE, then SET), or with
    IAM the user group and no token. ``DELETE`` is the strategy a group moving from its token to RBAC needs (the
    provider sends it with the added user group); a group created with a user group never had a token."""
    if identity is None:
        return {"auth_token": token, "auth_token_update_strategy": strategy}
    return {"user_group_ids": [identity.user_group.user_group_id], "auth_token_update_strategy": "DELETE"}


def allow_connect(name: str, role: pulumi.Input[str], replication_group: aws.elasticache.ReplicationGroup,
                  user: str, *, parent: pulumi.Resource) -> aws.iam.RolePolicy:
    """``elasticache:Connect`` as ``user`` on ``replication_group`` for the role named ``role``, as an inline
    policy of it."""
    return allow_inline(name, "redis-connect", role, "elasticache:Connect", replication_group.arn,
                        lambda arn: list(elasticache_connect_resources(arn, user)), parent=parent)
