"""The ``Redis`` component: an ElastiCache replication group (single node group or cluster mode), or external."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NotRequired, TypedDict
from urllib.parse import unquote, urlsplit

import pulumi
import pulumi_aws as aws

from . import naming
from .access import client_security_group
from .config import NetworkConfig, RedisConfig, Secrets
from .env import RedisFacts, redis_uri
from .postgres import final_snapshot_suffix, generated_password
from .provider_rules import elasticache_parameter_group_family, supports_transit_encryption_mode
from .sizing import RedisUser, redis_capacity

AUTH_TOKEN_LENGTH = 64
AUTH_TOKEN_SPECIALS = "-"
"""The one special character both URL-safe and among the few ElastiCache AUTH tokens may hold
(:data:`agent_server_infra.provider_rules.ELASTICACHE_AUTH_TOKEN`): ``_``, ``.`` and ``~`` are refused."""
SLOW_LOG_RETENTION_DAYS = 30


@dataclass(frozen=True)
class RedisClaim:
    """One deployment on a Redis: its key prefix, database number and connection claim."""

    name: str
    prefix: str
    database: int
    user: RedisUser


class RedisArgs(TypedDict):
    """Arguments of :class:`Redis`."""

    config: RedisConfig
    network: NotRequired[NetworkConfig | None]
    secrets: NotRequired[Secrets]
    tags: NotRequired[Mapping[str, str]]


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


class Redis(pulumi.ComponentResource):
    """Redis for the Agent Server, shareable by several servers with distinct key prefixes.

    ``single``: one node group with 0-5 replicas (automatic failover and multi-AZ from one replica on);
    ``cluster``: cluster mode with ``shards`` × ``replicasPerShard`` behind a configuration endpoint. Both always
    encrypt in transit (TLS required) and at rest, authenticate with a generated AUTH token, keep snapshots and
    deliver the slow log to CloudWatch. ``external`` creates nothing and takes ``agent-server:redisUri``.
    """

    endpoint: pulumi.Output[str]
    port: pulumi.Output[int]
    token: pulumi.Output[str]
    uri: pulumi.Output[str]
    cluster: bool
    tls: bool
    max_clients: int
    security_group_id: pulumi.Output[str] | None
    replication_group: aws.elasticache.ReplicationGroup | None

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("agent-server-infra:index:Redis", name, None, opts)
        config = args["config"]
        self.config = config
        self.name = name
        self.cluster = config.is_cluster
        self.max_clients = redis_capacity(config)
        self.claims: list[RedisClaim] = []
        """Deployments using this Redis, registered by ``AgentServer`` to check prefixes and the shared budget."""
        if config.mode == "external":
            self._external(args.get("secrets") or Secrets())
        else:
            network = args.get("network")
            if network is None:
                raise ValueError("Redis in single or cluster mode needs a network config")
            self._elasticache(name, config, network, dict(args.get("tags") or {}))
        self.register_outputs({
            "endpoint": self.endpoint, "port": self.port, "uri": self.uri, "cluster": self.cluster,
            "max_clients": self.max_clients, "security_group_id": self.security_group_id,
        })

    def _elasticache(self, name: str, config: RedisConfig, network: NetworkConfig, tags: dict[str, str]) -> None:
        scoped = naming.scoped(name, pulumi.get_project(), pulumi.get_stack())
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
        slow_log = aws.cloudwatch.LogGroup(
            f"{name}-slow-log",
            name=naming.checked(naming.LOG_GROUP, f"/aws/elasticache/{group_id}/slow-log"),
            retention_in_days=SLOW_LOG_RETENTION_DAYS,
            kms_key_id=None,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        token = generated_password(f"{name}-auth-token", self, AUTH_TOKEN_LENGTH, AUTH_TOKEN_SPECIALS)
        snapshot_suffix = final_snapshot_suffix(f"{name}-final-snapshot", self, {
            "replicationGroupId": group_id, "kmsKeyId": config.kms_key_id or "", "port": str(config.port),
        })
        # TLS is always required; the mode that says so exists from Redis 7.0.5 (Valkey 7.2) on, and older
        # engines (Redis 6) require TLS by transitEncryptionEnabled alone.
        transit_mode = "required" if supports_transit_encryption_mode(config.engine, config.version) else None
        shape: dict[str, object] = (
            {"cluster_mode": "enabled", "num_node_groups": config.shards,
             "replicas_per_node_group": config.replicas_per_shard, "automatic_failover_enabled": True,
             "multi_az_enabled": config.replicas_per_shard >= 1}
            if self.cluster else
            {"num_cache_clusters": 1 + config.replicas, "automatic_failover_enabled": config.replicas >= 1,
             "multi_az_enabled": config.replicas >= 1}
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
            auth_token=token.result,
            auth_token_update_strategy="ROTATE",
            snapshot_retention_limit=config.snapshot_retention_days,
            snapshot_window=config.snapshot_window,
            maintenance_window=config.maintenance_window,
            final_snapshot_identifier=snapshot_suffix.apply(
                lambda suffix: naming.physical(naming.ELASTICACHE_SNAPSHOT, group_id, f"-final-{suffix}")),
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            log_delivery_configurations=[aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                destination=slow_log.name, destination_type="cloudwatch-logs", log_format="json",
                log_type="slow-log",
            )],
            tags={**tags, "Name": group_id},
            opts=pulumi.ResourceOptions(parent=self, protect=config.protect,
                                        additional_secret_outputs=["authToken"]),
            **shape,  # type: ignore[arg-type]
        )
        self.replication_group = replication_group
        self.security_group_id = group.id
        self.tls = True
        self.endpoint = (replication_group.configuration_endpoint_address if self.cluster
                         else replication_group.primary_endpoint_address)
        self.port = replication_group.port.apply(lambda port: int(port or config.port))
        self.token = pulumi.Output.secret(token.result)
        self.uri = pulumi.Output.secret(self.facts().apply(redis_uri))

    def _external(self, secrets: Secrets) -> None:
        if secrets.redis_uri is None:
            raise ValueError("Redis in external mode needs the agent-server:redisUri secret")
        text = secrets.redis_uri.get_secret_value()
        parts = urlsplit(text)
        self.replication_group = None
        self.security_group_id = None
        self.tls = parts.scheme == "rediss"
        self.endpoint = pulumi.Output.from_input(parts.hostname or "")
        self.port = pulumi.Output.from_input(parts.port or 6379)
        self.token = pulumi.Output.secret(unquote(parts.password or ""))
        self.uri = pulumi.Output.secret(text)

    def facts(self) -> pulumi.Output[RedisFacts]:
        """What ``render_env`` needs to build the URI (a secret output: it carries the AUTH token)."""
        if self.config.mode == "external":
            return pulumi.Output.secret(self.uri.apply(lambda uri: RedisFacts(uri=uri, cluster=self.cluster)))
        return pulumi.Output.secret(pulumi.Output.all(self.endpoint, self.port, self.token).apply(
            lambda values: RedisFacts(host=values[0], port=int(values[1]), token=values[2], tls=self.tls,
                                      cluster=self.cluster)))
