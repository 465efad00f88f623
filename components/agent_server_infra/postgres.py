"""The ``Postgres`` component: an encrypted, private RDS Postgres instance, or an external database."""

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypedDict
from urllib.parse import unquote

import pulumi
import pulumi_aws as aws

from . import naming
from .access import client_security_group
from .config import NetworkConfig, PostgresConfig
from .env import PostgresFacts, postgres_uri
from .errors import required
from .provider_rules import postgres_parameter_group_family
from .settings import NamingSettings, NetworkSettings, PostgresSettings
from .sizing import Budget, postgres_capacity
from .stores import DataStore, final_snapshot_suffix, generated_password, secret_uri, tags_of
from .unknowns import known

TYPE_TOKEN = "agent-server-infra:index:Postgres"
RDS_CA = "rds-ca-rsa2048-g1"
LOGICAL_REPLICATION = "rds.logical_replication"


class PostgresArgs(TypedDict, total=False):
    """Arguments of :class:`Postgres`: the stack config's ``network`` and ``postgres`` sections (snake_case
    keys), the external database's URI and the tags of every AWS resource."""

    network: NetworkSettings
    """Where the database lives and who may reach it (rds mode)."""
    postgres: PostgresSettings
    """The database: `mode` rds (default) or external, and the instance's settings."""
    postgres_uri: pulumi.Input[str]
    """External mode: the database's URI (secret)."""
    naming: NamingSettings
    """Pinned physical names (``naming.name``: the stem of the instance identifier and role names)."""
    tags: Mapping[str, pulumi.Input[str]]
    """Tags of every AWS resource."""


class PostgresShare(TypedDict, total=False):
    """What another server needs to use this database (``Postgres.share``, given as ``existing_postgres``)."""

    name: pulumi.Input[str]
    """The Postgres component's name."""
    address: pulumi.Input[str]
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    username: pulumi.Input[str]
    password: pulumi.Input[str]
    """Secret."""
    max_connections: pulumi.Input[int]
    """The database's max_connections, which the sharing servers' budgets must fit together."""


def log_exports(config: PostgresConfig) -> list[str]:
    """The logs RDS exports: ``logExports``, with IAM authentication also ``iam-db-auth-error`` (why a token was
    refused)."""
    exports: list[str] = list(config.log_exports)
    if config.iam_authentication and "iam-db-auth-error" not in exports:
        exports.append("iam-db-auth-error")
    return exports


class Postgres(DataStore):
    """Postgres for the Agent Server.

    ``rds`` mode creates a DB subnet group, a security group that admits 5432 from the configured clients
    only, a parameter group enforcing TLS (``rds.force_ssl=1``) and an encrypted, private instance with backups,
    deletion protection, a final snapshot and log exports; the master password is generated and secret. With
    ``iamAuthentication`` the instance accepts IAM tokens and :meth:`server_facts` names the passwordless
    ``iamUsername`` (the master keeps its password, for the bootstrap Job). ``external`` mode creates nothing
    and takes the URI from the ``agent-server:postgresUri`` secret.
    """

    address: pulumi.Output[str]
    """Host of the database."""
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    """Secret."""
    uri: pulumi.Output[str]
    """``postgresql://user:password@host:port/database?sslmode=require`` (secret)."""
    max_connections: int
    """The database's max_connections: the connection budget's capacity."""
    security_group_id: pulumi.Output[str] | None
    """The database's security group (rds mode)."""
    share: pulumi.Output[PostgresShare]
    """Everything another server needs to share this database (its ``existing_postgres``)."""

    section = "postgres"
    uri_secret = "postgres_uri"
    type_token = TYPE_TOKEN

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        self._from_args(name, args, opts)

    def _build(self, name: str, config: PostgresConfig, network: NetworkConfig | None,
               uri: pulumi.Output[str] | None, tags: Mapping[str, Any] | None, stem: str | None = None) -> None:
        self.config = config
        self.name = name
        self.max_connections = postgres_capacity(config)
        self.planned: list[Budget] = []
        """The Postgres budget of every server on this database (what its connections alarm adds up)."""
        self.instance: aws.rds.Instance | None = None
        self.security_group_id = None
        if config.mode == "external":
            self._external(required(uri, "postgresUri", "required in external mode", f"Postgres {name}"))
        else:
            self._rds(name, config, required(network, "network", "required in rds mode", f"Postgres {name}"),
                      tags_of(tags), stem)
        self.share = pulumi.Output.all(self.address, self.port, self.database, self.username, self.password).apply(
            lambda values: PostgresShare(name=name, address=values[0], port=int(values[1]), database=values[2],
                                         username=values[3], password=values[4],
                                         max_connections=self.max_connections))
        self.register_outputs({
            "address": self.address, "port": self.port, "database": self.database, "username": self.username,
            "password": self.password, "uri": self.uri, "max_connections": self.max_connections,
            "security_group_id": self.security_group_id, "share": self.share,
        })

    def _rds(self, name: str, config: PostgresConfig, network: NetworkConfig, tags: dict[str, Any],
             stem: str | None) -> None:
        scoped = naming.stem_of(name, stem)
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
        if config.log_min_duration_statement_ms is not None:
            parameters.append(aws.rds.ParameterGroupParameterArgs(
                name="log_min_duration_statement", value=str(config.log_min_duration_statement_ms)))
        if config.blue_green_update:
            # A blue/green deployment of RDS for PostgreSQL replicates logically to the green instance.
            parameters.append(aws.rds.ParameterGroupParameterArgs(
                name=LOGICAL_REPLICATION, value="1", apply_method="pending-reboot"))
        parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            family=postgres_parameter_group_family(config.engine_version),
            description=f"{name}: TLS required",
            parameters=parameters,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        monitoring_role = self._monitoring_role(name, scoped, config, tags)
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
            iops=config.iops,
            storage_throughput=config.storage_throughput,
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
            enabled_cloudwatch_logs_exports=log_exports(config),
            # Unset when off (the provider's default), so turning the feature on is the only diff it makes.
            iam_database_authentication_enabled=True if config.iam_authentication else None,
            monitoring_interval=config.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role,
            performance_insights_enabled=config.performance_insights,
            performance_insights_retention_period=7 if config.performance_insights else None,
            performance_insights_kms_key_id=config.kms_key_id if config.performance_insights else None,
            auto_minor_version_upgrade=config.auto_minor_version_upgrade,
            allow_major_version_upgrade=config.allow_major_version_upgrade,
            apply_immediately=config.apply_immediately,
            blue_green_update=aws.rds.InstanceBlueGreenUpdateArgs(enabled=True) if config.blue_green_update else None,
            tags={**tags, "Name": identifier},
            opts=pulumi.ResourceOptions(parent=self, protect=config.protect,
                                        additional_secret_outputs=["password"]),
        )
        self.instance = instance
        self.identifier = identifier
        self.security_group_id = group.id
        self.address = known(instance.address)
        self.port = instance.port
        self.database = pulumi.Output.from_input(config.database_name)
        self.username = pulumi.Output.from_input(config.username)
        self.password = pulumi.Output.secret(known(password.result))
        self.uri = pulumi.Output.secret(self.facts().apply(postgres_uri))

    def _monitoring_role(self, name: str, scoped: str, config: PostgresConfig,
                         tags: dict[str, Any]) -> pulumi.Input[str] | None:
        """The enhanced-monitoring role: the one config names, or one this component creates (trusting
        monitoring.rds.amazonaws.com, with AWS's AmazonRDSEnhancedMonitoringRole policy); none when off."""
        if config.monitoring_interval_seconds == 0:
            return None
        if config.monitoring_role_arn is not None:
            return config.monitoring_role_arn
        role = aws.iam.Role(
            f"{name}-monitoring",
            name=naming.physical(naming.IAM_ROLE, scoped, "-rds-monitoring"),
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "monitoring.rds.amazonaws.com"},
            }]}),
            description=f"RDS enhanced monitoring of {name}",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        aws.iam.RolePolicyAttachment(
            f"{name}-monitoring",
            role=role.name,
            policy_arn=pulumi.Output.concat("arn:", partition,
                                            ":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"),
            opts=pulumi.ResourceOptions(parent=role),
        )
        return role.arn

    def _external(self, uri: pulumi.Output[str]) -> None:
        self.uri, part = secret_uri(uri)
        self.address = part(lambda p: p.hostname or "")
        self.port = part(lambda p: p.port or 5432)
        self.database = part(lambda p: unquote(p.path.lstrip("/")))
        self.username = part(lambda p: unquote(p.username or ""))
        self.password = pulumi.Output.secret(part(lambda p: unquote(p.password or "")))

    def server_facts(self) -> pulumi.Output[PostgresFacts]:
        """What the server's URI is built from: the master's credentials, or with IAM authentication the
        passwordless ``iamUsername`` (the server mints a token per connection)."""
        if not self.config.iam_authentication:
            return self.facts()
        return self.facts().apply(lambda facts: replace(facts, user=self.config.iam_username, password="", iam=True))

    def facts(self) -> pulumi.Output[PostgresFacts]:
        """What ``render_env`` needs to build the URI (a secret output: it carries the password)."""
        if self.config.mode == "external":
            return pulumi.Output.secret(self.uri.apply(lambda uri: PostgresFacts(uri=uri)))
        return pulumi.Output.secret(pulumi.Output.all(
            self.address, self.port, self.database, self.username, self.password,
        ).apply(lambda values: PostgresFacts(host=values[0], port=int(values[1]), database=values[2],
                                             user=values[3], password=values[4])))
