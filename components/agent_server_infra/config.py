"""Typed stack config (namespace ``agent-server:``): pydantic v2 models, one per top-level key.

Field-level rules (types, ranges, syntax) live here as pydantic constraints and validators. Rules that relate
several fields or sections live in :mod:`agent_server_infra.rules`; :mod:`agent_server_infra.validate` runs both
and reports every problem of a stack at once.
"""

from __future__ import annotations

import ipaddress
import re
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)
from pydantic.alias_generators import to_camel

from . import env_table as env
from .pod_security import TCP_RETRIES2_DEFAULT, TCP_RETRIES2_MIN
from .provider_rules import (
    ELASTICACHE_DEFAULT_VERSION,
    POSTGRES_CREATABLE_MINORS,
    POSTGRES_MAJORS,
    postgres_creatable,
)
from .versions import parse_version

MIN_POSTGRES_VERSION = (15, 8, 0)
SECRET_PLACEHOLDER_PREFIX = "[secret:"


@dataclass(frozen=True)
class FromInfrastructure:
    """Marks a config field whose value may come from the user's other infrastructure: the components take a
    ``pulumi.Input`` for it. Until an Output resolves, validation uses ``stand_in`` (``{index}`` numbers the items
    of a list), and the resolved value is validated by the same rules before any resource uses it. On a list's
    items, each item may be an Output (the list itself is plain: its length decides resources); on the list as
    well, the whole list may be one Output (validated with two stand-in items until it resolves)."""

    stand_in: str


def _infra(stand_in: str) -> FromInfrastructure:
    return FromInfrastructure(stand_in)


def optional_inner(annotation: Any) -> Any:
    """``X`` of ``Optional[X]``; any other annotation unchanged."""
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return annotation


def infrastructure_marker(annotation: Any, metadata: Sequence[Any] = ()) -> FromInfrastructure | None:
    """The :class:`FromInfrastructure` of a field (its ``metadata``) or of an annotation (``Annotated[...]``, also
    inside ``Optional``)."""
    items = [*metadata, *getattr(optional_inner(annotation), "__metadata__", ())]
    return next((item for item in items if isinstance(item, FromInfrastructure)), None)


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The nested section model an annotation holds (``IngressConfig | None`` → ``IngressConfig``), if any."""
    annotation = optional_inner(annotation)
    while hasattr(annotation, "__metadata__"):
        annotation = get_args(annotation)[0]
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


KMS_STAND_IN = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000"
PEM_STAND_IN = "-----BEGIN CERTIFICATE-----\nc3RhbmQtaW4=\n-----END CERTIFICATE-----\n"
PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\s*[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        validate_default=True,
    )


def _aws_id(prefix: str) -> Any:
    return Field(pattern=rf"^{prefix}-[0-9a-f]{{8,17}}$")


def _quantity(value: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?", value):
        raise ValueError(f"must be a Kubernetes quantity such as 500m, 2 or 4Gi (got {value!r})")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
DnsLabel = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
Window = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")]
WeeklyWindow = Annotated[
    str,
    Field(pattern=r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):"
                  r"([01]\d|2[0-3]):[0-5]\d$"),
]


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"must be a CIDR block such as 10.0.0.0/16 ({exc})") from None
    if network.prefixlen == 0:
        raise ValueError(f"must not open the data stores to the whole internet (got {value})")
    return value


def _any_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"must be a CIDR block such as 10.0.0.0/16 ({exc})") from None
    return value


def _https_url(value: str) -> str:
    if not re.fullmatch(r"https://[A-Za-z0-9.\-]+(:\d{1,5})?(/[^\s]*)?", value):
        raise ValueError(f"must be an https:// URL (got {value!r})")
    return value


def _http_url(value: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?(/[^\s]*)?", value):
        raise ValueError(f"must be an http(s):// URL (got {value!r})")
    return value


_ORIGIN = re.compile(r"^[a-z][a-z0-9+.\-]*://(\*\.)?[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*(:\d{1,5})?$")


def _origin(value: str) -> str:
    if value != "*" and not _ORIGIN.fullmatch(value):
        raise ValueError(f"must be * or an origin scheme://host[:port] without path or slash (got {value!r})")
    return value


def _version(value: str) -> str:
    try:
        parse_version(value)
    except ValueError:
        raise ValueError(f"must be a version number such as 0.4.20 (got {value!r})") from None
    return value


EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SECRET_STAND_IN = "stand-in-secret"
Cidr = Annotated[str, AfterValidator(_cidr)]
AnyCidr = Annotated[str, AfterValidator(_any_cidr)]
"""A CIDR block, 0.0.0.0/0 included (for egress, never for who may reach the data stores)."""
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Origin = Annotated[str, AfterValidator(_origin)]
Version = Annotated[str, AfterValidator(_version)]


class NetworkConfig(_Model):
    """Where the data stores live and who may reach them (``agent-server:network``)."""

    vpc_id: Annotated[str, _infra("vpc-00000000")] = _aws_id("vpc")
    """VPC of the data stores."""
    subnet_ids: Annotated[list[Annotated[str, _aws_id("subnet"), _infra("subnet-{index:08x}")]],
                          _infra("subnet-{index:08x}")] = Field(min_length=2)
    """Private subnets in at least two availability zones (DB and cache subnet groups)."""
    client_security_group_ids: list[Annotated[str, _aws_id("sg"), _infra("sg-{index:08x}")]] = Field(
        default_factory=list)
    """Security groups allowed to connect (the cluster nodes or pods)."""
    client_cidrs: list[Annotated[Cidr, _infra("10.{index}.0.0/16")]] = Field(default_factory=list)
    """CIDR blocks allowed to connect; never 0.0.0.0/0 or ::/0."""

    @field_validator("subnet_ids")
    @classmethod
    def _distinct_subnets(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("must list distinct subnets (in at least two availability zones)")
        return value


class PostgresConfig(_Model):
    """Postgres for the server (``agent-server:postgres``): an RDS instance or an external database."""

    mode: Literal["rds", "external"] = "rds"
    """`rds` creates an instance; `external` uses the `postgresUri` secret."""
    instance_class: str = Field(default="db.t4g.medium", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    """RDS instance class; its memory sets max_connections in the budget."""
    engine_version: Version = "16"
    """Postgres engine version: a major (`16`: RDS creates its default minor and upgrades minors itself) or, with
    `autoMinorVersionUpgrade: false`, an exact minor (≥ 15.8). The parameter group family follows the major."""
    auto_minor_version_upgrade: bool = True
    """RDS applies minor upgrades in the maintenance window; `engineVersion` must then name the major only, or
    the next deploy would try to move the instance back to the pinned minor (which RDS refuses)."""
    allocated_storage_gb: int = Field(default=20, ge=20, le=65536)
    """Initial storage."""
    max_allocated_storage_gb: int | None = Field(default=None, ge=20, le=65536)
    """Storage autoscaling ceiling (unset: no autoscaling)."""
    storage_type: Literal["gp3", "gp2", "io1", "io2"] = "gp3"
    iops: int | None = Field(default=None, ge=1000, le=256_000)
    """Provisioned IOPS: required by `io1`/`io2`; with `gp3` only from 400 GiB (below that RDS fixes 3000)."""
    storage_throughput: int | None = Field(default=None, ge=500, le=4000)
    """`gp3` throughput in MiB/s, only from 400 GiB and together with `iops`."""
    multi_az: bool = False
    """Standby in a second availability zone."""
    backup_retention_days: int = Field(default=7, ge=0, le=35)
    """Automated backup retention."""
    backup_window: Window = "03:00-04:00"
    maintenance_window: WeeklyWindow = "sun:04:30-sun:05:30"
    deletion_protection: bool = True
    """RDS deletion protection."""
    database_name: str = Field(default="langgraph", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
    """Initial database (in the URI)."""
    username: str = Field(default="langgraph", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
    """Master user (in the URI); the password is generated."""
    port: int = Field(default=5432, ge=1150, le=65535)
    performance_insights: bool = False
    """Performance Insights (7 days retention)."""
    log_min_duration_statement_ms: int | None = Field(default=None, ge=-1, le=2_147_483_647)
    """Slow-query log: statements running at least this long are logged (`log_min_duration_statement`, exported
    with the `postgresql` log); unset leaves RDS's default (off)."""
    monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = 0
    """RDS enhanced monitoring interval (0: off); on, the component creates the monitoring role unless
    `monitoringRoleArn` names one."""
    monitoring_role_arn: Annotated[str, _infra("arn:aws:iam::000000000000:role/stand-in")] | None = Field(
        default=None, pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/.+$")
    """An existing enhanced-monitoring role (trusting monitoring.rds.amazonaws.com)."""
    kms_key_id: Annotated[str, _infra(KMS_STAND_IN)] | None = Field(default=None, pattern=r"^arn:aws[a-z\-]*:kms:")
    log_exports: list[Literal["postgresql", "upgrade", "iam-db-auth-error"]] = Field(
        default_factory=lambda: ["postgresql", "upgrade"]
    )
    max_connections: int | None = Field(default=None, ge=10, le=262143)
    """External: the server's max_connections (needed for the budget). RDS: pins the parameter instead of the
    memory-derived default."""
    iam_authentication: bool = False
    """RDS IAM authentication: the server connects as `iamUsername` with a token its IRSA role mints (no
    password in its URI); a bootstrap Job creates that user with `rds_iam`. Needs `server.serverVersion` ≥ 0.12.0
    and an IRSA role (`server.serviceAccountRoleArn` or `server.oidcProviderArn`); the `iam-db-auth-error` log is
    exported too."""
    iam_username: str = Field(default="agent_server", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
    """The database user the server logs in as with IAM (never the master `username`)."""
    apply_immediately: bool = False
    """Apply instance changes (class, storage, multi-AZ, engine version, IAM authentication) during `pulumi up`
    instead of at the next maintenance window; the server's pools follow the instance only once it has changed,
    so `diff` blocks a class change that raises them while it is deferred (over-commit)."""
    allow_major_version_upgrade: bool = False
    """Let a new major `engineVersion` upgrade the instance in place (with `applyImmediately`, or `blueGreenUpdate`:
    a deferred upgrade keeps the old parameter group attached while `pulumi up` deletes it)."""
    blue_green_update: bool = False
    """Apply engine-version and parameter-group changes through an RDS blue/green deployment (a staging copy kept
    in sync by logical replication, then a switchover of about a minute) instead of an in-place upgrade; sets
    `rds.logical_replication`, which takes effect at the next reboot."""
    protect: bool = False
    """Pulumi `protect` on the stateful resource (on in prod)."""
    ca_bundle: Annotated[str, _infra(PEM_STAND_IN)] | None = None
    """PEM text of the CA bundle that signed the instance's certificate: the `rds-ca-rsa2048-g1` bundle of its
    region (https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem). Given, the server verifies the
    database (`sslmode=verify-full`, `sslrootcert` = the bundle, mounted from a ConfigMap into both roles and the
    bootstrap Job); unset, the connection is encrypted but the certificate not checked (`sslmode=require`)."""

    @field_validator("ca_bundle")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None and not PEM_CERTIFICATE.search(value):
            raise ValueError("must be PEM text with at least one certificate (-----BEGIN CERTIFICATE----- ... "
                             "-----END CERTIFICATE-----), such as the RDS bundle of the instance's region")
        return value

    @field_validator("engine_version")
    @classmethod
    def _supported_engine(cls, value: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)?", value):
            raise ValueError(f"must be a major (16) or major.minor (16.8) Postgres version (got {value!r})")
        major = parse_version(value)[0]
        if major not in POSTGRES_MAJORS:
            raise ValueError(f"must be a Postgres major RDS creates ({', '.join(map(str, POSTGRES_MAJORS))}) "
                             f"(got {value!r})")
        if "." in value and parse_version(value) < MIN_POSTGRES_VERSION:
            raise ValueError(f"must be ≥ 15.8, the oldest Postgres the Agent Server supports (got {value!r})")
        if not postgres_creatable(value):
            oldest = ".".join(map(str, POSTGRES_CREATABLE_MINORS[major][:2]))
            raise ValueError(f"RDS no longer creates Postgres {value} (the oldest {major}.x it creates is {oldest}); "
                             f"name the major only ({str(major)!r}) or a newer minor (got {value!r})")
        return value

    @field_validator("username", "iam_username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower() in {"postgres", "rdsadmin", "admin", "root", "public"}:
            raise ValueError(f"must not be a reserved name (got {value!r})")
        return value


class RedisConfig(_Model):
    """Redis for the server (``agent-server:redis``): ElastiCache single node group, cluster mode or external."""

    mode: Literal["single", "cluster", "external"] = "single"
    """`single` node group, `cluster` mode, or `external` (the `redisUri` secret)."""
    engine: Literal["redis", "valkey"] = "redis"
    node_type: str = Field(default="cache.t4g.small", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    """ElastiCache node type."""
    engine_version: str | None = Field(default=None, pattern=r"^\d+\.\d+$")
    """`major.minor` (ElastiCache takes no patch for Redis 6+ and Valkey); unset: 7.1 for redis, 8.0 for valkey."""
    replicas: int = Field(default=0, ge=0, le=5)
    """Single mode: read replicas; ≥ 1 turns on automatic failover and multi-AZ."""
    shards: int = Field(default=3, ge=1, le=500)
    """Cluster mode: node groups."""
    replicas_per_shard: int = Field(default=1, ge=0, le=5)
    """Cluster mode: replicas of each node group."""
    port: int = Field(default=6379, ge=1024, le=65535)
    snapshot_retention_days: int = Field(default=1, ge=0, le=35)
    """Automatic snapshot retention."""
    snapshot_window: Window = "05:00-06:00"
    maintenance_window: WeeklyWindow = "sun:06:30-sun:07:30"
    kms_key_id: Annotated[str, _infra(KMS_STAND_IN)] | None = Field(default=None, pattern=r"^arn:aws[a-z\-]*:kms:")
    """At-rest encryption key of the cache and of its slow-log group (the key policy must let
    `logs.<region>.amazonaws.com` use it: kms:Encrypt*, Decrypt*, ReEncrypt*, GenerateDataKey*, Describe*)."""
    slow_log_retention_days: int = 30
    """Days CloudWatch Logs keeps the slow log (a retention CloudWatch offers)."""
    apply_immediately: bool = False
    """Apply engine-version and node-type changes during `pulumi up` instead of at the next maintenance window
    (needed by an engine major upgrade or redis → valkey: the new parameter group replaces the old one, whose delete
    fails while the group still uses it)."""
    multi_az: bool | None = None
    """Multi-AZ with automatic failover; unset: on when the cache has replicas. Turn it off on its own before
    removing the last replicas (the provider removes replicas before it turns Multi-AZ off, and AWS refuses that)."""
    auth_token_version: int = Field(default=0, ge=0)
    """Bump to generate a new AUTH token (rotation): with `authTokenUpdateStrategy: ROTATE` the old token stays
    valid beside the new one while the pods roll; then set `SET` to invalidate the old one."""
    auth_token_update_strategy: Literal["ROTATE", "SET"] = "ROTATE"
    """How ElastiCache takes a new AUTH token: `ROTATE` keeps the previous token valid too, `SET` makes the current
    token the only valid one (ModifyReplicationGroup AuthTokenUpdateStrategy)."""
    cluster: bool = False
    """External only: whether the external Redis is a cluster."""
    max_clients: int | None = Field(default=None, ge=1, le=1_000_000)
    """External only: the server's maxclients (needed for the budget)."""
    iam_authentication: bool = False
    """ElastiCache IAM authentication: the cache uses a user group (RBAC, no AUTH token) with an IAM user the
    server connects as, minting a token with its IRSA role (`elasticache:Connect`). Needs Redis ≥ 7.0 or Valkey
    ≥ 7.2, `server.serverVersion` ≥ 0.13.0 and an IRSA role (`server.serviceAccountRoleArn` or
    `server.oidcProviderArn`)."""
    iam_user_id: str | None = Field(default=None, pattern=r"^[a-z](-?[a-z0-9])*$", max_length=40)
    """The IAM user's id, which is also its user name (IAM users must have id = name; ElastiCache stores ids in
    lower case); unset: `<replication group id>-server`. Unique per account and region."""
    protect: bool = False
    """Pulumi `protect` on the stateful resource (on in prod)."""

    @property
    def is_cluster(self) -> bool:
        return self.mode == "cluster" or (self.mode == "external" and self.cluster)

    @property
    def replicas_per_group(self) -> int:
        """Replicas of each node group: ``replicasPerShard`` in cluster mode, else ``replicas``."""
        return self.replicas_per_shard if self.is_cluster else self.replicas

    @property
    def version(self) -> str:
        """``engineVersion``, or the engine's default."""
        return self.engine_version or ELASTICACHE_DEFAULT_VERSION[self.engine]


class ScaleConfig(_Model):
    """Replicas and resources of one role (``api`` or ``queue``). Under a control plane, only the replica
    ceilings matter: they size the connection budget."""

    replicas: int = Field(default=1, ge=1, le=100)
    """Replicas at rest (the HPA minimum)."""
    max_replicas: int | None = Field(default=None, ge=1, le=100)
    """Autoscaling ceiling (unset: no HPA); the budget sizes for it plus the rolling-update surge."""
    cpu: Quantity = "1"
    memory: Quantity = "2Gi"
    cpu_limit: Quantity | None = None
    memory_limit: Quantity | None = None
    target_cpu_percent: int = Field(default=70, ge=10, le=100)

    @property
    def ceiling(self) -> int:
        """Most replicas the autoscaler may run (``maxReplicas``, else ``replicas``)."""
        return self.max_replicas if self.max_replicas is not None else self.replicas


PENDING_RUNS_QUERY = "SELECT COUNT(*) FROM run WHERE status = 'pending'"
"""LangChain's backlog query: runs waiting for a queue worker, in the licensed runtime's ``run`` table (the MIT
runtime, ``langgraph-runtime-pg``, names it ``runs``)."""


def _one_select(returning: str) -> Callable[[str], str]:
    """A validator of a query that must be one SELECT (or WITH) statement; ``returning`` ends its error message."""

    def check(value: str) -> str:
        statement = value.strip().rstrip(";").strip()
        if not re.match(r"(?is)^(select|with)\s", statement) or ";" in statement:
            raise ValueError(f"must be one SELECT statement returning {returning} (got {value!r})")
        return value

    return check


class BacklogScalingConfig(_Model):
    """How KEDA scales the queue on its backlog (``server.queue.backlog``, with ``autoscaling: backlog``). KEDA's
    ``postgresql`` scaler runs ``query`` every ``pollingIntervalSeconds`` and the queue gets one replica per
    ``nJobsPerWorker`` pending runs, between ``replicas`` (never 0) and ``maxReplicas``."""

    query: Annotated[str, AfterValidator(_one_select("a single number"))] = PENDING_RUNS_QUERY
    """The pending-runs query; it must return one number (the licensed runtime's table is `run`)."""
    polling_interval_seconds: int = Field(default=30, ge=5, le=3600)
    """How often KEDA runs the query (KEDA's `pollingInterval`)."""
    cooldown_seconds: int = Field(default=300, ge=0, le=3600)
    """How long the backlog must stay low before the queue scales down (the HPA's scale-down stabilization
    window: KEDA's own `cooldownPeriod` only applies to scaling to zero, which the queue never does)."""


STUCK_RUNS_QUERY = ("SELECT run_id FROM run WHERE status = 'running' "
                    "AND updated_at < now() - make_interval(secs => %(after_seconds)s) ORDER BY updated_at LIMIT 100")
"""Runs a worker claimed more than ``after_seconds`` ago and still ``running``, in the licensed runtime's ``run``
table (the columns of the API's ``Run``, ``langgraph_api/schema.py``; a claim sets ``status`` and ``updated_at``,
``langgraph_runtime_pg/ops.py`` ``_claim_next_run``). The MIT runtime names the table ``runs``."""
CRON_SCHEDULE = r"^(\S+\s+){4}\S+$"


class StuckRunsConfig(_Model):
    """An opt-in check for runs stuck in `running` (`server.stuckRuns`): a CronJob in the server's image that runs
    `query` and fails, naming the runs, when a run has been running longer than `afterSeconds`. A failed Job is
    what the cluster's monitoring already alerts on (kube-state-metrics `kube_job_status_failed`). No metric of the
    server measures it (its queue metrics are counts) and CloudWatch cannot read Postgres rows: a queue pod stalled
    on a dead database connection keeps its probes green while its runs stay `running`."""

    after_seconds: int = Field(default=1800, ge=60, le=86_400)
    """How long a run may stay `running` since its worker claimed it; set it above your longest run."""
    schedule: str = Field(default="*/5 * * * *", pattern=CRON_SCHEDULE)
    """When the check runs (a five-field cron schedule)."""
    query: Annotated[str, AfterValidator(_one_select("the stuck runs' ids"))] = STUCK_RUNS_QUERY
    """The stuck runs' ids; `%(after_seconds)s` is `afterSeconds` (the licensed runtime's table is `run`)."""


class QueueScaleConfig(ScaleConfig):
    """Replicas and resources of the queue, and what its autoscaler follows: CPU (an HPA) or the backlog of
    pending runs (a KEDA ScaledObject, which then owns the queue's replicas)."""

    replicas: int = Field(default=1, le=100)
    """Replicas at rest (the autoscaler's minimum; never 0)."""
    autoscaling: Literal["cpu", "backlog"] = "cpu"
    """`cpu`: an HPA on `targetCpuPercent`; `backlog`: KEDA on the pending runs (needs KEDA ≥ 2.12 in the
    cluster, and `maxReplicas` above `replicas`)."""
    backlog: BacklogScalingConfig = Field(default_factory=BacklogScalingConfig)

    @field_validator("replicas")
    @classmethod
    def _never_zero(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be ≥ 1: a queue scaled to zero loses the tasks it holds (the server's docs warn "
                             f"against scale-to-zero; got {value})")
        return value


class IngressConfig(_Model):
    """An optional Ingress in front of the API service. With `className: alb` (the AWS Load Balancer Controller)
    the Ingress carries the controller's annotations: IP targets (the Service is a ClusterIP), the scheme, the
    health check under the mount prefix and, with `certificateArn`, HTTPS on 443 with a redirect from 80."""

    host: Annotated[str, _infra("stand-in.example.com")] = Field(
        pattern=r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
    class_name: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    """IngressClass name (`alb`, `nginx`, ...); unset: the cluster's default class."""
    tls_secret_name: Annotated[DnsLabel, _infra("stand-in")] | None = None
    """Secret with the certificate, for controllers that terminate TLS in the cluster (not `alb`)."""
    scheme: Literal["internal", "internet-facing"] = "internal"
    """`alb` only: an internal or an internet-facing load balancer."""
    certificate_arn: Annotated[str, _infra("arn:aws:acm:us-east-1:000000000000:certificate/stand-in")] | None = Field(
        default=None,
                                        pattern=r"^arn:aws[a-z\-]*:acm:[a-z0-9\-]+:\d{12}:certificate/.+$")
    """`alb` only: ACM certificate for HTTPS (unset: the controller discovers one by host, if any)."""


class NetworkPolicyConfig(_Model):
    """Kubernetes NetworkPolicies for the server's pods: everything denied, then only what the server needs.
    Clusters whose CNI does not enforce NetworkPolicy (plain VPC CNI without its network policy agent, for one)
    ignore them: nothing breaks, nothing is enforced."""

    enabled: bool = True
    ingress_namespaces: list[DnsLabel] = Field(default_factory=lambda: ["ingress-nginx", "kube-system"])
    """Namespaces whose pods may reach the API (the ingress controller's); the server's own namespace always may."""
    ingress_cidrs: list[Annotated[AnyCidr, _infra("10.{index}.0.0/16")]] = Field(default_factory=list)
    """Addresses that may reach the API directly: the VPC's CIDR for an ALB with IP targets."""
    store_cidrs: list[Annotated[Cidr, _infra("10.{index}.0.0/16")]] = Field(default_factory=list)
    """Where Postgres and Redis are (their subnets); empty: any address, on the stores' ports only."""
    https_cidrs: list[Annotated[AnyCidr, _infra("10.{index}.0.0/16")]] = Field(default_factory=lambda: ["0.0.0.0/0"])
    """Where HTTPS (443) may go: LangSmith, the license beacon, model providers; default anywhere."""


class MetricsConfig(_Model):
    """Prometheus metrics of both roles (``server.metrics``). Every release from 0.11.1 on serves the
    Prometheus text format at `<mountPrefix>/metrics` on the port it is probed on (the API's HTTP server and the
    queue's health and metrics server); only the API reports the queue depth (`lg_api_num_pending_runs`,
    `lg_api_num_running_runs`). `enabled` also turns on the dedicated scrape endpoint the changelog documents
    (`LSD_PROM_METRICS_ENABLED` on `port`, from 0.11.0), and admits the scraper to both."""

    enabled: bool = False
    port: int = Field(default=env.default_int("LSD_PROM_METRICS_PORT"), ge=1024, le=65535)
    """The dedicated scrape endpoint's port (`LSD_PROM_METRICS_PORT`); never the server's own port."""
    scraper_namespaces: list[DnsLabel] = Field(default_factory=lambda: ["monitoring"])
    """Namespaces whose pods (Prometheus) the NetworkPolicy admits to both roles' metrics ports."""
    pod_monitor: bool = False
    """Create a Prometheus Operator `PodMonitor` (monitoring.coreos.com/v1) for both roles: the operator's CRDs
    must be installed, and its Prometheus must select the monitor (its `podMonitorSelector`)."""
    interval_seconds: int = Field(default=30, ge=5, le=3600)
    """The PodMonitor's scrape interval."""


class DatadogConfig(_Model):
    """Datadog tracing (``DD_*``); the API key is the secret ``agent-server:datadogApiKey``."""

    enabled: bool = False
    site: str = env.default_str("DD_SITE")
    env: str | None = None
    service: str | None = None


class OtelConfig(_Model):
    """OpenTelemetry APM tracing; headers are the secret ``agent-server:otelHeaders``."""

    enabled: bool = False
    endpoint: HttpUrl | None = None
    traces_endpoint: HttpUrl | None = None
    service_name: str | None = None


class CheckpointDeleteConfig(_Model):
    """Deferred checkpoint deletion (``LS_CHECKPOINT_DELETE``), rendered as compact JSON."""

    enabled: bool = False
    enabled_worker_only: bool = False
    poll_interval_ms: int = Field(default=5000, gt=0)
    batch_size: int = Field(default=25, gt=0)
    batch_sleep_ms: int = Field(default=500, gt=0)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
CheckpointerBackend = Literal["default", "mongo"]
"""The values every verified release accepts for ``LS_DEFAULT_CHECKPOINTER_BACKEND`` (``releases.json``)."""


def _not_custom(value: Any) -> Any:
    if value == "custom":
        from .releases import verified_versions

        versions = verified_versions()
        raise ValueError(f"must be default or mongo (got 'custom'): every verified langgraph-api release "
                         f"({versions[0]} to {versions[-1]}) refuses it at start-up (\"LS_DEFAULT_CHECKPOINTER_BACKEND "
                         "must be 'default' or 'mongo'\", langgraph_api/config/_parse.py); a custom checkpointer is "
                         "configured in the graph's langgraph.json (checkpointer.path) instead")
    return value


class ServerConfig(_Model):
    """The Agent Server workload and every server variable (``agent-server:server``)."""

    deployment_model: env.DeploymentModel = "standalone"
    """`standalone` runs API and queue here; `control-plane` exports the env bundle for LangSmith."""
    image: Annotated[str, _infra("registry.invalid/stand-in:0")] | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9./_:\-@]*$")
    """The server image (built with `langgraph build`), pinned by tag or digest."""
    server_version: Version | None = None
    """The langgraph-api version in the image, for version gates, the security advisories check and the Redis it
    needs; a version newer than the newest verified release (`releases.json`) is a warning."""
    strict_versions: bool = False
    """A `serverVersion` with a published security advisory that applies to the stack, or newer than the newest
    verified release, is an error (default: a warning)."""
    namespace: DnsLabel = "agent-server"
    """Kubernetes namespace."""
    create_namespace: bool = True
    """Create the namespace (false: it exists already)."""
    api: ScaleConfig = Field(default_factory=ScaleConfig)
    queue: QueueScaleConfig = Field(default_factory=QueueScaleConfig)
    ingress: IngressConfig | None = None
    network_policy: NetworkPolicyConfig = Field(default_factory=NetworkPolicyConfig)
    """NetworkPolicies for the pods (on by default)."""
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    """Prometheus metrics of both roles: the scrape endpoint, the scraper's way in, an optional PodMonitor."""
    run_as_user: int = Field(default=1000, ge=1, le=2_147_483_647)
    """UID of the containers (the image expects 1000); never 0: the pods run as non-root."""
    run_as_group: int = Field(default=1000, ge=1, le=2_147_483_647)
    """GID of the containers and of the pod's volumes (`fsGroup`)."""
    service_account_role_arn: Annotated[str, _infra("arn:aws:iam::000000000000:role/stand-in")] | None = Field(
        default=None, pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/.+$")
    """IAM role for the service account (IRSA annotation)."""
    oidc_provider_arn: Annotated[str, _infra(
        "arn:aws:iam::000000000000:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/STANDIN")] | None = Field(
        default=None, pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:oidc-provider/[A-Za-z0-9.\-]+(/[A-Za-z0-9.\-_]+)*$")
    """The cluster's IAM OIDC provider: without `serviceAccountRoleArn`, the component creates the server's IRSA
    role trusting it for this server's service account only."""
    extra_env: dict[EnvName, Annotated[str, _infra("")]] = Field(default_factory=dict)
    """More plain variables for the server; may not override a managed one."""
    extra_secret_env: dict[EnvName, Annotated[SecretStr, _infra(SECRET_STAND_IN)]] = Field(default_factory=dict)
    """More secret variables for the server (`LANGGRAPH_AES_KEY`, ...): rendered into its Secret, never a ConfigMap,
    and shown by `plan` only as names. Same name rules as `extraEnv`, and no name of both. In a stack file they are
    the top-level secret map `agent-server:extraSecretEnv` (`pulumi config set --secret --path
    'agent-server:extraSecretEnv.NAME' VALUE`), never a key of `agent-server:server`."""
    stuck_runs: StuckRunsConfig | None = None
    """An opt-in CronJob that fails when a run stays `running` longer than `afterSeconds` (unset: none)."""
    tcp_retries2: int | None = Field(default=None, ge=TCP_RETRIES2_MIN, le=TCP_RETRIES2_DEFAULT)
    """Opt-in pod sysctl `net.ipv4.tcp_retries2` for both roles: unacknowledged retransmissions before the kernel
    drops a connection whose peer vanished without a reset (a failover to a dead host). At the kernel's 15 such a
    connection lives ~924.6 s, and the runtime's checkpoint writer holds one lock per process, so one stalled query
    stalls every run of the pod; 8 drops it after ~102 s (RFC 1122's floor). An unsafe sysctl: the nodes' kubelet
    must run with `--allowed-unsafe-sysctls=net.ipv4.tcp_retries2` (pods fail with SysctlForbidden elsewhere) and
    the namespace's Pod Security admission must be `privileged`."""

    bg_job_isolated_loops: bool = env.default_bool("BG_JOB_ISOLATED_LOOPS")
    bg_job_max_retries: int | None = Field(default=None, ge=0, le=100)
    """Attempts a background run gets (the server counts attempts: attempt n fails when n > this). Unset: the seed's
    3, or more when one queue rollout can interrupt a run more often (⌈maxReplicas / surge⌉ waves, one more for a
    backlog-scaled queue); a value below that is refused."""
    bg_job_shutdown_grace_period_secs: int = Field(
        default=env.default_int("BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS"), ge=0, le=3600
    )
    bg_job_timeout_secs: int = Field(default=env.default_int("BG_JOB_TIMEOUT_SECS"), gt=0)
    cors_allow_origins: list[Origin] = Field(
        default_factory=lambda: env.default_str("CORS_ALLOW_ORIGINS").split(","), min_length=1
    )
    datadog: DatadogConfig = Field(default_factory=DatadogConfig)
    postgres_pool_max_size: int | None = Field(default=None, ge=1, le=10_000)
    checkpoint_delete: CheckpointDeleteConfig | None = None
    checkpointer_backend: CheckpointerBackend | None = None
    """`default` (Postgres) or `mongo` (needs the `mongodbUri` secret); unset: the server's default. A custom
    checkpointer is configured in the graph's `langgraph.json` (`checkpointer.path`), not here."""
    langsmith_endpoint: HttpsUrl | None = None
    langsmith_tracing: bool | None = None
    """Trace runs to LangSmith. Unset: on when `langsmithApiKey` is set (as the server does by itself), else off;
    tracing needs the key, so `true` without it is a warning and is not rendered."""
    log_color: bool = env.default_bool("LOG_COLOR")
    log_level: LogLevel = cast(LogLevel, env.default_str("LOG_LEVEL"))
    log_json: bool = env.default_bool("LOG_JSON")
    mount_prefix: str | None = Field(default=None, pattern=r"^(/[A-Za-z0-9._~\-]+)+$")
    n_jobs_per_worker: int = Field(default=env.default_int("N_JOBS_PER_WORKER"), ge=1, le=1000)
    otel: OtelConfig = Field(default_factory=OtelConfig)
    redis_key_prefix: str = Field(default=env.default_str("REDIS_KEY_PREFIX"), pattern=r"^[A-Za-z0-9:_.\-]*$",
                                  max_length=128)
    redis_database: int = Field(default=0, ge=0, le=15)
    """Redis database number (single mode), rendered as `/N` in the URI."""
    redis_max_connections: int | None = Field(default=None, ge=1, le=65_000)
    resumable_stream_ttl_seconds: int = Field(default=env.default_int("RESUMABLE_STREAM_TTL_SECONDS"), ge=1)

    @field_validator("checkpointer_backend", mode="before")
    @classmethod
    def _checkpointer(cls, value: Any) -> Any:
        return _not_custom(value)

    @property
    def version(self) -> tuple[int, int, int] | None:
        return parse_version(self.server_version) if self.server_version else None


class NamingConfig(_Model):
    """How the deployment's physical names are pinned (``agent-server:naming``). Every physical name (the RDS
    identifier, the ElastiCache group id, IAM role and log group names) derives from project, stack and the
    component's name, so a renamed stack or component would get new, empty stores. Pin the name first and nothing
    moves: `pulumi stack rename` then only rewrites URNs."""

    name: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$")
    """Stem of every physical name (unset: `<project>-<stack>-<component>`, or the component's name when it starts
    with `<project>-<stack>`). The stack program also names its `AgentServer` so (unset: `agent-server-<stack>`):
    set it to `agent-server-<current stack>` before `pulumi stack rename`."""


class AlarmsConfig(_Model):
    """CloudWatch alarms on the data stores this stack creates (``agent-server:alarms``; no alarms when absent).
    The connection thresholds are the connection budget's own numbers: Postgres `DatabaseConnections` above the
    connections the budget plans means something opened more than planned; Redis `CurrConnections` above the
    summed budget of every server on it likewise. The others are fractions of what the store has."""

    enabled: bool = True
    sns_topic_arn: Annotated[str, _infra("arn:aws:sns:us-east-1:000000000000:stand-in")] | None = Field(
        default=None, pattern=r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?$")
    """SNS topic every alarm notifies, on alarm and on recovery (required when enabled)."""
    period_seconds: Literal[60, 300, 900, 3600] = 60
    """Length of one evaluated period."""
    evaluation_periods: int = Field(default=5, ge=1, le=1440)
    """Consecutive breaching periods before an alarm fires (period × periods at most one day)."""
    cpu_percent: int = Field(default=80, ge=1, le=100)
    """RDS `CPUUtilization` and ElastiCache `EngineCPUUtilization` above this."""
    free_storage_percent: int = Field(default=10, ge=1, le=99)
    """RDS `FreeStorageSpace` below this share of `allocatedStorageGb`."""
    freeable_memory_percent: int = Field(default=10, ge=1, le=99)
    """RDS `FreeableMemory` below this share of the instance class's memory."""
    redis_memory_percent: int = Field(default=90, ge=1, le=100)
    """ElastiCache `DatabaseMemoryUsagePercentage` above this (with `noeviction`, writes fail at 100)."""
    replication_lag_seconds: int = Field(default=30, ge=1, le=3600)
    """ElastiCache `ReplicationLag` of a replica above this (only when the Redis has replicas)."""


class Secrets(_Model):
    """Secret top-level keys. Values are ``SecretStr``; stack files give opaque placeholders."""

    langsmith_api_key: SecretStr | None = None
    license_key: SecretStr | None = None
    datadog_api_key: SecretStr | None = None
    mongodb_uri: SecretStr | None = None
    postgres_uri: SecretStr | None = None
    redis_uri: SecretStr | None = None
    otel_headers: SecretStr | None = None

    def plain(self, field: str) -> str | None:
        """The secret's text, or ``None`` when absent or an opaque placeholder (encrypted in a stack file)."""
        value = getattr(self, field)
        if value is None:
            return None
        text = value.get_secret_value()
        return None if is_placeholder(text) else text


def placeholder(key: str) -> str:
    return f"{SECRET_PLACEHOLDER_PREFIX}{key}]"


def is_placeholder(text: str) -> bool:
    return text.startswith(SECRET_PLACEHOLDER_PREFIX)


SECRET_ENV_KEY = "extraSecretEnv"
"""The top-level secret map of a stack file that becomes ``server.extraSecretEnv``: each value a secure value of
its own (``pulumi config set --secret --path 'agent-server:extraSecretEnv.NAME'``), read as a secret, never a key
of the ``server`` object (whose values ``require_object`` returns as plain text)."""
SECRET_KEYS: tuple[str, ...] = tuple(
    str(info.alias) for info in Secrets.model_fields.values() if info.alias is not None
)
SECTIONS: dict[str, type[_Model]] = {
    "network": NetworkConfig,
    "postgres": PostgresConfig,
    "redis": RedisConfig,
    "server": ServerConfig,
    "alarms": AlarmsConfig,
    "naming": NamingConfig,
}
OPTIONAL_SECTIONS: frozenset[str] = frozenset({"network", "alarms", "naming"})
"""Sections that are ``None`` when absent (the others get their defaults)."""


class StackConfig(_Model):
    """The whole validated stack config."""

    network: NetworkConfig | None = None
    postgres: PostgresConfig = Field(default_factory=PostgresConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    alarms: AlarmsConfig | None = None
    naming: NamingConfig | None = None
    secrets: Secrets = Field(default_factory=Secrets)
