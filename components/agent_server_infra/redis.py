"""The ``Redis`` component: an ElastiCache replication group (single node group or cluster mode), or external."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import unquote

import pulumi
import pulumi_aws as aws
from pulumi_aws.cloudwatch.log_group import LogGroup  # the module: aws.cloudwatch loads every CloudWatch class

from . import naming
from .access import client_security_group
from .config import NetworkConfig, RedisConfig
from .env import RedisFacts, redis_uri
from .errors import required
from .provider_rules import (
    ELASTICACHE_AUTH_TOKEN_SPECIALS,
    elasticache_parameter_group_family,
    supports_transit_encryption_mode,
)
from .redis_iam import RedisIdentity, authentication_arguments, user_group
from .registry import of_this_run
from .settings import NamingSettings, NetworkSettings, RedisSettings
from .sizing import Budget, RedisUser, redis_budget, redis_capacity
from .stores import (
    URL_SAFE_SPECIALS,
    DataStore,
    final_snapshot_suffix,
    generated_password,
    secret_uri,
    tags_of,
)
from .unknowns import known

TYPE_TOKEN = "agent-server-infra:index:Redis"
AUTH_TOKEN_LENGTH = 64
AUTH_TOKEN_SPECIALS = "".join(char for char in URL_SAFE_SPECIALS if char in ELASTICACHE_AUTH_TOKEN_SPECIALS)
"""The special characters both URL-safe and among the few ElastiCache AUTH tokens may hold (``-``): ElastiCache
refuses ``_``, ``.`` and ``~``."""


@dataclass(frozen=True)
class RedisClaim:
    """One deployment on a Redis: its key prefix, database number and connection claim."""

    name: str
    prefix: str
    database: int
    user: RedisUser


class RedisArgs(TypedDict, total=False):
    """Arguments of :class:`Redis`: the stack config's ``network`` and ``redis`` sections (snake_case keys), the
    external Redis's URI and the tags of every AWS resource."""

    network: NetworkSettings
    """Where the cache lives and who may reach it (single and cluster mode)."""
    redis: RedisSettings
    """The cache: `mode` single (default), cluster or external, and the replication group's settings."""
    redis_uri: pulumi.Input[str]
    """External mode: the Redis URI (secret)."""
    naming: NamingSettings
    """Pinned physical names (``naming.name``: the stem of the replication group id and log group)."""
    tags: Mapping[str, pulumi.Input[str]]
    """Tags of every AWS resource."""


class RedisShare(TypedDict, total=False):
    """What another server needs to use this Redis (``Redis.share``, given as ``existing_redis``)."""

    name: pulumi.Input[str]
    """The Redis component's name: servers of one program register their prefixes and connections on it."""
    endpoint: pulumi.Input[str]
    port: pulumi.Input[int]
    token: pulumi.Input[str]
    """AUTH token (secret)."""
    tls: pulumi.Input[bool]
    cluster: pulumi.Input[bool]
    max_clients: pulumi.Input[int]
    """maxclients per node: the capacity of the summed Redis budget."""
    uri: pulumi.Input[str]
    """External mode: the URI as given (secret)."""
    iam_user: pulumi.Input[str]
    """IAM authentication: the IAM user (such a Redis is shared as the component, which grants
    elasticache:Connect, not as this share)."""


def shared(name: str) -> "Redis | None":
    """This program's Redis component ``name``, if it was created in this process (servers that get a Redis as
    its ``share`` register on it)."""
    return of_this_run("redis").get(name)


def redis_parameters(config: RedisConfig) -> dict[str, str]:
    """The parameters we change from the family's defaults, decided in one visible place."""
    parameters = {
        # The queue's signals and resumable streams must not be evicted under memory pressure: fail writes
        # loudly instead of dropping keys silently (ElastiCache's default is volatile-lru).
        "maxmemory-policy": "noeviction",
    }
    if config.mode == "cluster":
        parameters["cluster-enabled"] = "yes"
    return parameters


class Redis(DataStore):
    """Redis for the Agent Server, shareable by several servers with distinct key prefixes.

    ``single``: one node group with 0-5 replicas (automatic failover and multi-AZ from one replica on);
    ``cluster``: cluster mode with ``shards`` × ``replicasPerShard`` behind a configuration endpoint. Both always
    encrypt in transit (TLS required) and at rest, authenticate with a generated AUTH token (with
    ``iamAuthentication``, a user group of IAM users instead: :mod:`agent_server_infra.redis_iam`), keep snapshots
    and deliver the slow log to CloudWatch. ``external`` creates nothing and takes ``agent-server:redisUri``.
    """

    endpoint: pulumi.Output[str]
    """Primary endpoint (single mode) or configuration endpoint (cluster mode)."""
    port: pulumi.Output[int]
    token: pulumi.Output[str]
    """AUTH token (secret)."""
    uri: pulumi.Output[str]
    """``rediss://:token@host:port/0`` (secret)."""
    cluster: bool
    """Whether the Redis runs in cluster mode (``REDIS_CLUSTER``)."""
    tls: bool
    max_clients: int
    """maxclients per node: the capacity of the Redis budget, summed over every server on it."""
    security_group_id: pulumi.Output[str] | None
    """The cache's security group (single and cluster mode)."""
    share: pulumi.Output[RedisShare]
    """Everything another server needs to share this Redis (its ``existing_redis``)."""
    iam_user: str | None
    """IAM authentication: the IAM user every server on this Redis connects as (its user id and name)."""

    section = "redis"
    uri_secret = "redis_uri"
    type_token = TYPE_TOKEN

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        self._from_args(name, args, opts)

    def _build(self, name: str, config: RedisConfig, network: NetworkConfig | None,
               uri: pulumi.Output[str] | None, tags: Mapping[str, Any] | None, stem: str | None = None) -> None:
        self.config = config
        self.name = name
        self.cluster = config.is_cluster
        self.max_clients = redis_capacity(config)
        self.claims: list[RedisClaim] = []
        """Deployments using this Redis, registered by ``AgentServer`` to check prefixes and the shared budget."""
        self.replication_group: aws.elasticache.ReplicationGroup | None = None
        self._facts: pulumi.Output[RedisFacts] | None = None
        self.security_group_id = None
        self.iam_user = None
        if config.mode == "external":
            self._external(required(uri, "redisUri", "required in external mode", f"Redis {name}"))
        else:
            self._elasticache(name, config, required(network, "network", "required in single and cluster mode",
                                                     f"Redis {name}"), tags_of(tags), stem)
        external = self.uri if config.mode == "external" else None
        iam = {"iam_user": self.iam_user} if self.iam_user is not None else {}
        self.share = pulumi.Output.all(self.endpoint, self.port, self.token, external).apply(
            lambda values: RedisShare(name=name, endpoint=values[0], port=int(values[1]), token=values[2],
                                      tls=self.tls, cluster=self.cluster, max_clients=self.max_clients,
                                      **({"uri": values[3]} if values[3] is not None else {}), **iam))
        of_this_run("redis")[name] = self
        self.register_outputs({
            "endpoint": self.endpoint, "port": self.port, "token": self.token, "uri": self.uri,
            "cluster": self.cluster, "tls": self.tls, "max_clients": self.max_clients,
            "security_group_id": self.security_group_id, "share": self.share, "iam_user": self.iam_user,
        })

    def budget(self) -> dict[str, Any]:
        """The Redis budget summed over every server that registered on this Redis so far (the last server's
        budget, as the plan prints it)."""
        return self.combined_budget().as_dict()

    def combined_budget(self) -> Budget:
        """:meth:`budget` as the sizing object (what the alarms' thresholds are computed from)."""
        return redis_budget(max_clients=self.max_clients, users=[claim.user for claim in self.claims],
                            cluster=self.cluster)

    def _elasticache(self, name: str, config: RedisConfig, network: NetworkConfig, tags: dict[str, Any],
                     stem: str | None) -> None:
        scoped = naming.stem_of(name, stem)
        group_id = naming.physical(naming.ELASTICACHE_GROUP, scoped)
        # Children's logical names (their auto-names) and the groups' descriptions, which AWS cannot change in
        # place, follow the component's name rather than the scoped physical identifier.
        name = naming.logical(name)
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=network.subnet_ids,
            description=f"Private subnets of {name}",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        group = client_security_group(name, network=network, port=config.port, purpose="Redis", parent=self,
                                      tags=tags)
        parameter_group = aws.elasticache.ParameterGroup(
            f"{name}-params",
            family=elasticache_parameter_group_family(config.engine, config.version),
            description=f"{name}: {'cluster mode, ' if self.cluster else ''}noeviction",
            parameters=[aws.elasticache.ParameterGroupParameterArgs(name=key, value=value)
                        for key, value in redis_parameters(config).items()],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        slow_log = LogGroup(
            f"{name}-slow-log",
            name=naming.checked(naming.LOG_GROUP, f"/aws/elasticache/{group_id}/slow-log"),
            retention_in_days=config.slow_log_retention_days,
            kms_key_id=config.kms_key_id,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # IAM authentication: a user group (RBAC) instead of the AUTH token (redis_iam). Otherwise a new
        # authTokenVersion generates a new token (keepers replace the password); none until the first rotation, so
        # that a cache created before the knob existed keeps its token.
        identity: RedisIdentity | None = user_group(
            name, config, group_id, parent=self, tags=tags, password_specials=AUTH_TOKEN_SPECIALS,
        ) if config.iam_authentication else None
        token_result: pulumi.Output[str] = pulumi.Output.from_input("") if identity is not None else \
            generated_password(f"{name}-auth-token", self, AUTH_TOKEN_LENGTH, AUTH_TOKEN_SPECIALS,
                               {"version": str(config.auth_token_version)} if config.auth_token_version
                               else None).result
        snapshot_suffix = final_snapshot_suffix(f"{name}-final-snapshot", self, {
            "replicationGroupId": group_id, "kmsKeyId": config.kms_key_id or "", "port": str(config.port),
        })
        # TLS is always required; the mode that says so exists from Redis 7.0.5 (Valkey 7.2) on, and older
        # engines (Redis 6) require TLS by transitEncryptionEnabled alone.
        transit_mode = "required" if supports_transit_encryption_mode(config.engine, config.version) else None
        multi_az = config.replicas_per_group >= 1 if config.multi_az is None else config.multi_az
        shape: dict[str, object] = (
            {"cluster_mode": "enabled", "num_node_groups": config.shards,
             "replicas_per_node_group": config.replicas_per_shard, "automatic_failover_enabled": True,
             "multi_az_enabled": multi_az}
            if self.cluster else
            {"num_cache_clusters": 1 + config.replicas, "automatic_failover_enabled": config.replicas >= 1,
             "multi_az_enabled": multi_az}
        )
        replication_group = aws.elasticache.ReplicationGroup(
            f"{name}-group",
            replication_group_id=group_id,
            description=f"Agent Server Redis ({config.mode})",
            engine=config.engine,
            engine_version=config.version,
            node_type=config.node_type,
            port=config.port,
            parameter_group_name=parameter_group.name,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            at_rest_encryption_enabled=True,
            kms_key_id=config.kms_key_id,
            transit_encryption_enabled=True,
            transit_encryption_mode=transit_mode,
            snapshot_retention_limit=config.snapshot_retention_days,
            snapshot_window=config.snapshot_window,
            maintenance_window=config.maintenance_window,
            final_snapshot_identifier=snapshot_suffix.apply(
                lambda suffix: naming.physical(naming.ELASTICACHE_SNAPSHOT, group_id, f"-final-{suffix}")),
            auto_minor_version_upgrade=True,
            apply_immediately=config.apply_immediately,
            log_delivery_configurations=[aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                destination=slow_log.name, destination_type="cloudwatch-logs", log_format="json",
                log_type="slow-log",
            )],
            tags={**tags, "Name": group_id},
            opts=pulumi.ResourceOptions(parent=self, protect=config.protect,
                                        additional_secret_outputs=["authToken"]),
            **shape, **authentication_arguments(identity, token_result, config.auth_token_update_strategy),  # type: ignore[arg-type]
        )
        self.replication_group = replication_group
        self.group_id = group_id
        self.security_group_id = group.id
        self.tls = True
        self.endpoint = known(replication_group.configuration_endpoint_address if self.cluster
                              else replication_group.primary_endpoint_address)
        self.port = replication_group.port.apply(lambda port: int(port or config.port))
        self.token = pulumi.Output.secret(known(token_result))
        self.iam_user = identity.user_id if identity is not None else None
        self.uri = pulumi.Output.secret(self.facts().apply(redis_uri))

    def member(self, index: int, expected: str) -> pulumi.Output[str]:
        """The id of the group's ``index``-th member cluster (sorted), as ElastiCache reports them: a group whose
        replicas were removed and added again numbers them with gaps, so the shape's ``expected`` id (``<group>-00N``)
        is only the fallback while the members are unknown (a preview of a new group, mocks)."""
        group = self.replication_group
        if group is None:  # an external Redis: no members to read
            return pulumi.Output.from_input(expected)
        return group.member_clusters.apply(
            lambda members: sorted(members)[index] if members and index < len(members) else expected)

    def _external(self, uri: pulumi.Output[str]) -> None:
        self.uri, part = secret_uri(uri)
        # The URI is used verbatim (its scheme decides TLS; validation warns about redis://), so ``tls`` only
        # describes URIs built from the parts, which external mode never does.
        self.tls = True
        self.endpoint = part(lambda p: p.hostname or "")
        self.port = part(lambda p: p.port or 6379)
        self.token = pulumi.Output.secret(part(lambda p: unquote(p.password or "")))

    def facts(self) -> pulumi.Output[RedisFacts]:
        """What ``render_env`` needs to build the URI (a secret output: it carries the AUTH token); one Output,
        read by every server on this Redis."""
        if self._facts is None:
            if self.config.mode == "external":
                self._facts = pulumi.Output.secret(self.uri.apply(
                    lambda uri: RedisFacts(uri=uri, cluster=self.cluster)))
            else:
                self._facts = pulumi.Output.secret(pulumi.Output.all(self.endpoint, self.port, self.token).apply(
                    lambda values: RedisFacts(host=values[0], port=int(values[1]), token=values[2] or None,
                                              tls=self.tls, cluster=self.cluster, user=self.iam_user)))
        return self._facts
