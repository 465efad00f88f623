"""The ``Postgres`` component: an encrypted, private RDS Postgres instance, or an external database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict
from urllib.parse import unquote, urlsplit

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from . import naming
from .access import client_security_group
from .config import NetworkConfig, PostgresConfig, Secrets
from .env import PostgresFacts, postgres_uri
from .provider_rules import postgres_parameter_group_family
from .sizing import postgres_capacity

URL_SAFE_SPECIALS = "-_.~"
"""RFC 3986 unreserved punctuation: allowed in RDS and ElastiCache passwords and never needs encoding (URIs are
still always encoded, since external URIs and user-supplied passwords may contain anything)."""

RDS_CA = "rds-ca-rsa2048-g1"


class PostgresArgs(TypedDict):
    """Arguments of :class:`Postgres`."""

    config: PostgresConfig
    network: NotRequired[NetworkConfig | None]
    secrets: NotRequired[Secrets]
    tags: NotRequired[Mapping[str, str]]


def final_snapshot_suffix(name: str, parent: pulumi.Resource, keepers: Mapping[str, pulumi.Input[str]],
                          ) -> pulumi.Output[str]:
    """8 random hex digits for a final snapshot's name, kept until one of ``keepers`` (the inputs that replace
    the store) changes: every deletion of a store, a replacement or a stack destroyed and deployed again, leaves
    a snapshot of a new name, where a fixed name fails the second time with SnapshotAlreadyExists."""
    return random.RandomId(
        name, byte_length=4, keepers=dict(keepers), opts=pulumi.ResourceOptions(parent=parent),
    ).hex


def generated_password(name: str, parent: pulumi.Resource, length: int,
                       specials: str = URL_SAFE_SPECIALS) -> random.RandomPassword:
    """A URL-safe generated secret (letters, digits and ``specials``, by default ``-_.~``) with every character
    class present."""
    return random.RandomPassword(
        name,
        length=length,
        special=True,
        override_special=specials,
        min_lower=1,
        min_upper=1,
        min_numeric=1,
        opts=pulumi.ResourceOptions(parent=parent),
    )


class Postgres(pulumi.ComponentResource):
    """Postgres for the Agent Server.

    ``rds`` mode creates a DB subnet group, a security group that admits 5432 from the configured clients
    only, a parameter group enforcing TLS (``rds.force_ssl=1``) and an encrypted, private instance with backups,
    deletion protection, a final snapshot and log exports; the master password is generated and secret.
    ``external`` mode creates nothing and takes the URI from the ``agent-server:postgresUri`` secret.
    """

    address: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    uri: pulumi.Output[str]
    max_connections: int
    security_group_id: pulumi.Output[str] | None
    instance: aws.rds.Instance | None

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("agent-server-infra:index:Postgres", name, None, opts)
        config = args["config"]
        self.config = config
        self.max_connections = postgres_capacity(config)
        if config.mode == "external":
            self._external(args.get("secrets") or Secrets())
        else:
            network = args.get("network")
            if network is None:
                raise ValueError("Postgres in rds mode needs a network config")
            self._rds(name, config, network, dict(args.get("tags") or {}))
        self.register_outputs({
            "address": self.address, "port": self.port, "database": self.database, "username": self.username,
            "password": self.password, "uri": self.uri, "max_connections": self.max_connections,
            "security_group_id": self.security_group_id,
        })

    def _rds(self, name: str, config: PostgresConfig, network: NetworkConfig, tags: dict[str, str]) -> None:
        scoped = naming.scoped(name, pulumi.get_project(), pulumi.get_stack())
        identifier = naming.physical(naming.RDS_INSTANCE, scoped)
        # Children's logical names (their auto-names) and the groups' descriptions, which AWS cannot change in
        # place, follow the component's name rather than the scoped physical identifier.
        name = naming.logical(name)
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=network.subnet_ids,
            description=f"Private subnets of {name}",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        group = client_security_group(name, network=network, port=config.port, purpose="Postgres", parent=self,
                                      tags=tags)
        parameters = [aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")]
        if config.max_connections is not None:
            parameters.append(aws.rds.ParameterGroupParameterArgs(
                name="max_connections", value=str(config.max_connections), apply_method="pending-reboot"))
        parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            family=postgres_parameter_group_family(config.engine_version),
            description=f"{name}: TLS required",
            parameters=parameters,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        password = generated_password(f"{name}-password", self, 40)
        snapshot_suffix = final_snapshot_suffix(f"{name}-final-snapshot", self, {
            "identifier": identifier, "dbName": config.database_name, "username": config.username,
            "kmsKeyId": config.kms_key_id or "",
        })
        instance = aws.rds.Instance(
            f"{name}-db",
            identifier=identifier,
            engine="postgres",
            engine_version=config.engine_version,
            instance_class=config.instance_class,
            allocated_storage=config.allocated_storage_gb,
            max_allocated_storage=config.max_allocated_storage_gb,
            storage_type=config.storage_type,
            storage_encrypted=True,
            kms_key_id=config.kms_key_id,
            db_name=config.database_name,
            username=config.username,
            password=password.result,
            port=config.port,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[group.id],
            parameter_group_name=parameter_group.name,
            publicly_accessible=False,
            multi_az=config.multi_az,
            ca_cert_identifier=RDS_CA,
            backup_retention_period=config.backup_retention_days,
            backup_window=config.backup_window,
            maintenance_window=config.maintenance_window,
            deletion_protection=config.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=snapshot_suffix.apply(
                lambda suffix: naming.physical(naming.RDS_SNAPSHOT, identifier, f"-final-{suffix}")),
            delete_automated_backups=False,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=list(config.log_exports),
            performance_insights_enabled=config.performance_insights,
            performance_insights_retention_period=7 if config.performance_insights else None,
            performance_insights_kms_key_id=config.kms_key_id if config.performance_insights else None,
            auto_minor_version_upgrade=config.auto_minor_version_upgrade,
            allow_major_version_upgrade=False,
            apply_immediately=False,
            tags={**tags, "Name": identifier},
            opts=pulumi.ResourceOptions(parent=self, protect=config.protect,
                                        additional_secret_outputs=["password"]),
        )
        self.instance = instance
        self.security_group_id = group.id
        self.address = instance.address
        self.port = instance.port
        self.database = pulumi.Output.from_input(config.database_name)
        self.username = pulumi.Output.from_input(config.username)
        self.password = pulumi.Output.secret(password.result)
        self.uri = pulumi.Output.secret(self.facts().apply(postgres_uri))

    def _external(self, secrets: Secrets) -> None:
        if secrets.postgres_uri is None:
            raise ValueError("Postgres in external mode needs the agent-server:postgresUri secret")
        text = secrets.postgres_uri.get_secret_value()
        parts = urlsplit(text)
        self.instance = None
        self.security_group_id = None
        self.address = pulumi.Output.from_input(parts.hostname or "")
        self.port = pulumi.Output.from_input(parts.port or 5432)
        self.database = pulumi.Output.from_input(unquote(parts.path.lstrip("/")))
        self.username = pulumi.Output.from_input(unquote(parts.username or ""))
        self.password = pulumi.Output.secret(unquote(parts.password or ""))
        self.uri = pulumi.Output.secret(text)

    def facts(self) -> pulumi.Output[PostgresFacts]:
        """What ``render_env`` needs to build the URI (a secret output: it carries the password)."""
        if self.config.mode == "external":
            return pulumi.Output.secret(self.uri.apply(lambda uri: PostgresFacts(uri=uri)))
        return pulumi.Output.secret(pulumi.Output.all(
            self.address, self.port, self.database, self.username, self.password,
        ).apply(lambda values: PostgresFacts(host=values[0], port=int(values[1]), database=values[2],
                                             user=values[3], password=values[4])))
