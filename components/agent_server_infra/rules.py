"""Cross-field rules of the stack config: small named checks, each returning the problems it finds.

Every check takes validated sections and returns a list of :class:`Issue`; none raises, so a stack file with
several mistakes gets all of them reported at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple
from urllib.parse import urlsplit

from . import env_table as env
from .advisories import Advisory, Condition, advisories_for, move_to
from .config import (
    AlarmsConfig,
    NetworkConfig,
    PostgresConfig,
    RedisConfig,
    Secrets,
    ServerConfig,
)
from .errors import Issue, show
from .provider_rules import (
    ALARM_MAX_EVALUATION_SECONDS,
    ELASTICACHE_IAM_MINIMUM,
    ELASTICACHE_VERSIONS,
    ELASTICACHE_WINDOWS,
    GP3_IOPS,
    GP3_MAX_IOPS_PER_GIB,
    GP3_MAX_THROUGHPUT_PER_IOPS,
    GP3_PROVISIONED_MINIMUM_GB,
    GP3_THROUGHPUT,
    IO1_MAX_IOPS_PER_GIB,
    LOG_RETENTION_DAYS,
    PROVISIONED_IOPS,
    RDS_WINDOWS,
    WindowRules,
    daily_minutes,
    elasticache_iam_supported,
    minimum_storage_ceiling,
    weekly_minutes,
    windows_overlap,
)
from .releases import newer_than_verified, newest_verified
from .sizing import isolated_loop_pool_problem
from .versions import parse_version

ELASTICACHE_MAX_NODES = 500


def _set(model: object, field: str) -> bool:
    return field in getattr(model, "model_fields_set", set())


def _alias(model_cls: type, field: str) -> str:
    info = model_cls.model_fields[field]  # type: ignore[attr-defined]
    return str(info.alias)


def _mode_fields(model: PostgresConfig | RedisConfig, section: str, allowed: dict[str, set[str]]) -> Iterator[Issue]:
    """Fields that only mean something in another mode are mistakes, not silently ignored."""
    mode = model.mode
    for field in sorted(model.model_fields_set):
        modes = allowed.get(field)
        if modes is not None and mode not in modes:
            yield Issue(
                f"{section}.{_alias(type(model), field)}",
                f"only applies when {section}.mode is {' or '.join(sorted(modes))} (mode is {mode!r})",
            )


_RDS_ONLY = {"rds"}
_POSTGRES_MODES: dict[str, set[str]] = dict.fromkeys(
    (
        "instance_class", "engine_version", "auto_minor_version_upgrade", "allocated_storage_gb",
        "max_allocated_storage_gb", "storage_type",
        "multi_az", "backup_retention_days", "backup_window", "maintenance_window", "deletion_protection",
        "database_name", "username", "port", "performance_insights", "kms_key_id", "log_exports", "protect",
        "log_min_duration_statement_ms", "monitoring_interval_seconds", "monitoring_role_arn",
        "iam_authentication", "iam_username", "iops", "storage_throughput", "apply_immediately",
        "allow_major_version_upgrade", "blue_green_update", "ca_bundle",
    ),
    _RDS_ONLY,
)
_MANAGED_REDIS = {"single", "cluster"}
_REDIS_MODES: dict[str, set[str]] = {
    **dict.fromkeys(
        (
            "engine", "node_type", "engine_version", "port", "snapshot_retention_days", "snapshot_window",
            "maintenance_window", "kms_key_id", "protect", "slow_log_retention_days", "apply_immediately",
            "multi_az", "auth_token_version", "auth_token_update_strategy", "iam_authentication", "iam_user_id",
        ),
        _MANAGED_REDIS,
    ),
    "replicas": {"single"},
    "shards": {"cluster"},
    "replicas_per_shard": {"cluster"},
    "cluster": {"external"},
    "max_clients": {"external"},
}


def _external_needs(section: str, capacity_key: str, capacity: int | None, server_setting: str, uri_key: str,
                    has_uri: bool) -> list[Issue]:
    """An external store needs its capacity (for the budget) and its URI (a secret)."""
    issues: list[Issue] = []
    if capacity is None:
        issues.append(Issue(f"{section}.{capacity_key}", f"required when {section}.mode is external (the connection "
                            f"budget needs the server's {server_setting})"))
    if not has_uri:
        issues.append(Issue(uri_key, f"secret required when {section}.mode is external"))
    return issues


def check_postgres(postgres: PostgresConfig, secrets: Secrets) -> list[Issue]:
    issues = list(_mode_fields(postgres, "postgres", _POSTGRES_MODES))
    if postgres.mode == "external":
        issues.extend(_external_needs("postgres", "maxConnections", postgres.max_connections, "max_connections",
                                      "postgresUri", secrets.postgres_uri is not None))
        uri = secrets.plain("postgres_uri")
        if uri is not None:
            issues.extend(_check_postgres_uri(uri))
    else:
        if secrets.postgres_uri is not None:
            issues.append(Issue("postgresUri", "only used when postgres.mode is external (RDS URIs are built)"))
        ceiling = minimum_storage_ceiling(postgres.allocated_storage_gb)
        if postgres.max_allocated_storage_gb is not None and postgres.max_allocated_storage_gb < ceiling:
            issues.append(Issue("postgres.maxAllocatedStorageGb",
                                f"must be ≥ {ceiling}, 10 % above allocatedStorageGb "
                                f"{postgres.allocated_storage_gb}: RDS refuses a smaller autoscaling ceiling "
                                f"(got {postgres.max_allocated_storage_gb})"))
        if postgres.auto_minor_version_upgrade and "." in postgres.engine_version:
            major = postgres.engine_version.split(".")[0]
            issues.append(Issue("postgres.engineVersion",
                                f"with autoMinorVersionUpgrade true, name the major only ({major!r}): RDS upgrades "
                                "the minor itself and a pinned minor makes the next deploy try to downgrade (got "
                                f"{show(postgres.engine_version)}; or set autoMinorVersionUpgrade: false)"))
        issues.extend(_window_issues("postgres", RDS_WINDOWS, postgres.backup_window, postgres.maintenance_window))
        issues.extend(_check_storage(postgres))
        if postgres.blue_green_update and postgres.backup_retention_days == 0:
            issues.append(Issue("postgres.blueGreenUpdate", "a blue/green deployment needs automated backups "
                                "(backupRetentionDays above 0)"))
        if _set(postgres, "iam_username") and not postgres.iam_authentication:
            issues.append(Issue("postgres.iamUsername", "only used with postgres.iamAuthentication true"))
        if postgres.iam_authentication and postgres.iam_username.lower() == postgres.username.lower():
            issues.append(Issue("postgres.iamUsername", f"must differ from the master username "
                                f"{postgres.username!r}: the master keeps its password for the bootstrap Job"))
        if postgres.monitoring_role_arn is not None and postgres.monitoring_interval_seconds == 0:
            issues.append(Issue("postgres.monitoringRoleArn", "only used with monitoringIntervalSeconds above 0 "
                                "(enhanced monitoring is off)"))
        if postgres.deletion_protection and postgres.backup_retention_days == 0:
            issues.append(Issue("postgres.backupRetentionDays", "0 disables backups of a protected database",
                                "warning"))
    return issues


def _check_postgres_uri(uri: str) -> list[Issue]:
    parts = urlsplit(uri)
    issues: list[Issue] = []
    if parts.scheme not in {"postgresql", "postgres"} or not parts.hostname:
        issues.append(Issue("postgresUri", "must be a postgresql://user:password@host:port/database URI"))
    elif parts.path in {"", "/"}:
        issues.append(Issue("postgresUri", "must name the database in the path (postgresql://…/database)"))
    elif "sslmode=" not in parts.query or "sslmode=disable" in parts.query:
        issues.append(Issue("postgresUri", "has no sslmode=require (or stricter): traffic would be unencrypted",
                            "warning"))
    return issues


def _check_storage(postgres: PostgresConfig) -> list[Issue]:
    """Provisioned IOPS and throughput against the storage type and size RDS takes them for (STORAGE_SOURCE)."""
    issues: list[Issue] = []
    kind, size, iops, throughput = (postgres.storage_type, postgres.allocated_storage_gb, postgres.iops,
                                    postgres.storage_throughput)
    if kind in {"io1", "io2"} and iops is None:
        issues.append(Issue("postgres.iops", f"required with storageType {kind} (provisioned IOPS storage)"))
    if kind == "gp2" and (iops is not None or throughput is not None):
        issues.append(Issue("postgres.iops" if iops is not None else "postgres.storageThroughput",
                            "gp2 takes neither IOPS nor throughput (its IOPS follow its size)"))
    if kind in {"io1", "io2"} and throughput is not None:
        issues.append(Issue("postgres.storageThroughput", f"only gp3 takes a throughput (storageType is {kind})"))
    if kind == "gp3" and (iops is not None or throughput is not None):
        if size < GP3_PROVISIONED_MINIMUM_GB:
            issues.append(Issue("postgres.iops" if iops is not None else "postgres.storageThroughput",
                                f"gp3 below {GP3_PROVISIONED_MINIMUM_GB} GiB has a fixed 3,000 IOPS and 125 MiB/s "
                                f"(allocatedStorageGb is {size}); RDS refuses provisioned values there"))
        elif iops is None or throughput is None:
            issues.append(Issue("postgres.iops" if iops is None else "postgres.storageThroughput",
                                "gp3 from 400 GiB takes IOPS and throughput together"))
        else:
            low, high = GP3_IOPS
            if not low <= iops <= min(high, GP3_MAX_IOPS_PER_GIB * size):
                issues.append(Issue("postgres.iops", f"gp3 takes {low}-{min(high, GP3_MAX_IOPS_PER_GIB * size)} "
                                    f"IOPS on {size} GiB (at most {GP3_MAX_IOPS_PER_GIB} per GiB; got {iops})"))
            if not GP3_THROUGHPUT[0] <= throughput <= GP3_THROUGHPUT[1] or \
                    throughput > GP3_MAX_THROUGHPUT_PER_IOPS * iops:
                issues.append(Issue("postgres.storageThroughput", f"gp3 takes {GP3_THROUGHPUT[0]}-"
                                    f"{GP3_THROUGHPUT[1]} MiB/s and at most {GP3_MAX_THROUGHPUT_PER_IOPS} MiB/s per "
                                    f"IOPS (got {throughput} with {iops} IOPS)"))
    if kind in {"io1", "io2"} and iops is not None:
        ceiling = min(PROVISIONED_IOPS[1], IO1_MAX_IOPS_PER_GIB * size) if kind == "io1" else PROVISIONED_IOPS[1]
        if not PROVISIONED_IOPS[0] <= iops <= ceiling:
            issues.append(Issue("postgres.iops", f"{kind} takes {PROVISIONED_IOPS[0]}-{ceiling} IOPS on {size} GiB "
                                f"(got {iops})"))
    return issues


def _check_redis_changes(redis: RedisConfig) -> list[Issue]:
    """Multi-AZ, AUTH token rotation and node types as ElastiCache takes them."""
    issues: list[Issue] = []
    if redis.multi_az and redis.replicas_per_group == 0:
        issues.append(Issue("redis.multiAz", "needs at least one replica to fail over to (ElastiCache refuses "
                            "Multi-AZ without replicas)"))
    if redis.auth_token_update_strategy == "SET" and redis.auth_token_version == 0:
        issues.append(Issue("redis.authTokenUpdateStrategy", "SET finishes a rotation (AWS allows it only after "
                            "ROTATE): bump authTokenVersion with ROTATE first"))
    family = redis.node_type.split(".")[1]
    if family.startswith("r") and family.endswith("d"):
        issues.append(Issue("redis.nodeType", f"{redis.node_type} is a data-tiering node, which ElastiCache runs "
                            "only with data tiering; this component does not enable it (pick cache.r6g or "
                            "cache.r7g)"))
    return issues


def _window_issues(section: str, rules: WindowRules, daily: str, weekly: str) -> list[Issue]:
    """A store's daily (backup or snapshot) and weekly (maintenance) windows: long enough, never overlapping."""
    issues: list[Issue] = []
    for field, minutes, minimum in ((rules.daily_field, daily_minutes(daily), rules.daily_minimum),
                                    ("maintenanceWindow", weekly_minutes(weekly), rules.weekly_minimum)):
        if minutes < minimum:
            value = daily if field == rules.daily_field else weekly
            issues.append(Issue(f"{section}.{field}", f"must be at least {minimum} minutes long (got {value!r}, "
                                f"{minutes} minutes)"))
    if windows_overlap(daily, weekly):
        issues.append(Issue(f"{section}.{rules.daily_field}", f"{daily!r} overlaps maintenanceWindow {weekly!r}; "
                            "AWS refuses overlapping windows"))
    return issues


def check_redis(redis: RedisConfig, secrets: Secrets) -> list[Issue]:
    issues = list(_mode_fields(redis, "redis", _REDIS_MODES))
    if redis.mode != "external":
        known = ELASTICACHE_VERSIONS[redis.engine]
        if redis.version not in known:
            issues.append(Issue("redis.engineVersion", f"{redis.engine} {redis.version} is not a version "
                                f"ElastiCache creates (known: {', '.join(known)})"))
        issues.extend(_window_issues("redis", ELASTICACHE_WINDOWS, redis.snapshot_window, redis.maintenance_window))
        issues.extend(_check_redis_changes(redis))
        issues.extend(_redis_iam_engine(redis))
        if redis.slow_log_retention_days not in LOG_RETENTION_DAYS:
            issues.append(Issue("redis.slowLogRetentionDays", f"must be a retention CloudWatch Logs offers "
                                f"({', '.join(map(str, LOG_RETENTION_DAYS))}; got {redis.slow_log_retention_days})"))
    if redis.mode == "cluster":
        nodes = redis.shards * (1 + redis.replicas_per_shard)
        if nodes > ELASTICACHE_MAX_NODES:
            issues.append(Issue("redis.shards", f"shards × (1 + replicasPerShard) = {redis.shards} × "
                                f"{1 + redis.replicas_per_shard} = {nodes} nodes; ElastiCache allows at most "
                                f"{ELASTICACHE_MAX_NODES} per cluster"))
        if redis.node_type.startswith("cache.t") and redis.replicas_per_shard == 0:
            issues.append(Issue("redis.replicasPerShard", "0 replicas: losing a node loses its shard's keys",
                                "warning"))
    if redis.mode == "external":
        issues.extend(_external_needs("redis", "maxClients", redis.max_clients, "maxclients", "redisUri",
                                      secrets.redis_uri is not None))
        uri = secrets.plain("redis_uri")
        if uri is not None:
            parts = urlsplit(uri)
            if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
                issues.append(Issue("redisUri", "must be a redis:// or rediss:// URI with a host"))
            elif parts.scheme == "redis":
                issues.append(Issue("redisUri", "redis:// is unencrypted; prefer rediss://", "warning"))
    elif secrets.redis_uri is not None:
        issues.append(Issue("redisUri", "only used when redis.mode is external (ElastiCache URIs are built)"))
    return issues


def check_network(network: NetworkConfig | None, postgres: PostgresConfig | None,
                  redis: RedisConfig | None) -> list[Issue]:
    """The network section against the stores that need one (a store whose section is broken is left out)."""
    if network is None:
        if (postgres is not None and postgres.mode == "rds") or (redis is not None and redis.mode != "external"):
            return [Issue("network", "required when postgres.mode is rds or redis.mode is single/cluster "
                          "(vpcId, subnetIds and who may connect)")]
        return []
    if not network.client_security_group_ids and not network.client_cidrs:
        return [Issue("network.clientSecurityGroupIds", "name at least one client security group or "
                      "clientCidrs entry: otherwise nothing can reach the data stores")]
    return []


def check_alarms(alarms: AlarmsConfig) -> list[Issue]:
    """Enabled alarms need a topic to notify, and an evaluation AWS accepts."""
    if not alarms.enabled:
        return []
    issues: list[Issue] = []
    if alarms.sns_topic_arn is None:
        issues.append(Issue("alarms.snsTopicArn", "required when alarms are enabled: an alarm that notifies "
                            "nobody is not an alarm (or set alarms.enabled: false)"))
    evaluated = alarms.period_seconds * alarms.evaluation_periods
    if evaluated > ALARM_MAX_EVALUATION_SECONDS:
        issues.append(Issue("alarms.evaluationPeriods", f"periodSeconds × evaluationPeriods = "
                            f"{alarms.period_seconds} × {alarms.evaluation_periods} = {evaluated} s; CloudWatch "
                            f"evaluates at most {ALARM_MAX_EVALUATION_SECONDS} s (one day)"))
    return issues


def check_server(server: ServerConfig, secrets: Secrets | None, redis: RedisConfig | None) -> list[Issue]:
    """The server section; the rules that depend on the Redis mode run when the redis section is valid, those on
    the secrets when ``secrets`` is given (a Workload on its own gets none: they are not its concern)."""
    issues: list[Issue] = []
    standalone = server.deployment_model == "standalone"
    if standalone and not server.image:
        issues.append(Issue("server.image", "required when server.deploymentModel is standalone"))
    if server.image and (":" not in server.image.rsplit("/", 1)[-1] and "@" not in server.image):
        issues.append(Issue("server.image", f"must pin a tag or digest (got {show(server.image)})"))
    elif server.image and server.image.endswith(":latest"):
        issues.append(Issue("server.image", "the :latest tag makes rollouts unrepeatable", "warning"))
    if not standalone:
        # api/queue stay meaningful: they are the replica ceilings the control plane runs, for the budget.
        for field in ("image", "ingress", "service_account_role_arn", "oidc_provider_arn", "namespace",
                      "create_namespace", "run_as_user", "run_as_group", "network_policy", "metrics",
                      "tcp_retries2", "stuck_runs"):
            if _set(server, field):
                issues.append(Issue(f"server.{_alias(ServerConfig, field)}", "only applies when "
                                    "server.deploymentModel is standalone (a control plane runs the server)"))
    issues.extend(_check_ingress(server))
    for role in ("api", "queue"):
        scale = getattr(server, role)
        if scale.max_replicas is not None and scale.max_replicas < scale.replicas:
            issues.append(Issue(f"server.{role}.maxReplicas", f"must be ≥ replicas {scale.replicas} "
                                f"(got {scale.max_replicas})"))
    issues.extend(_check_queue_scaling(server))
    issues.extend(_check_metrics(server))
    if server.oidc_provider_arn is not None and server.service_account_role_arn is not None:
        issues.append(Issue("server.oidcProviderArn", "only used when serviceAccountRoleArn is unset (the "
                            "component creates the IRSA role from it)"))
    if server.bg_job_isolated_loops and server.postgres_pool_max_size is not None and (
            problem := isolated_loop_pool_problem(server.postgres_pool_max_size, server.n_jobs_per_worker)):
        issues.append(Issue("server.postgresPoolMaxSize", problem))
    if server.checkpoint_delete is not None and server.checkpointer_backend not in (None, "default"):
        issues.append(Issue("server.checkpointDelete", "only supported with checkpointerBackend default "
                            f"(got {show(server.checkpointer_backend)})"))
    if secrets is not None:
        issues.extend(_check_mongo(server, secrets))
    issues.extend(_check_telemetry(server, secrets))
    issues.extend(_check_extra_env(server))
    issues.extend(_check_advisories(server))
    issues.extend(_check_versions(server))
    if redis is not None:
        issues.extend(check_server_on_redis(server, redis))
    if standalone and secrets is not None and secrets.license_key is None and secrets.langsmith_api_key is None:
        issues.append(Issue("licenseKey", "neither licenseKey nor langsmithApiKey is set: a self-hosted server "
                            "image refuses to start without one", "warning"))
    return issues


def _check_metrics(server: ServerConfig) -> list[Issue]:
    """The metrics port is not the server's own (both roles bind ``PORT``), and the rest needs metrics on."""
    metrics = server.metrics
    if not metrics.enabled:
        return [Issue(f"server.metrics.{_alias(type(metrics), field)}", "only applies when server.metrics.enabled "
                      "is true") for field in ("port", "scraper_namespaces", "pod_monitor", "interval_seconds")
                if _set(metrics, field)]
    if metrics.port == env.SERVER_PORT:
        return [Issue("server.metrics.port", f"must differ from the server's port {env.SERVER_PORT} (PORT), which "
                      f"the API and the queue's health server bind (got {metrics.port})")]
    return []


def _check_queue_scaling(server: ServerConfig) -> list[Issue]:
    """Backlog (KEDA) scaling: a standalone server's, between ``replicas`` and a higher ``maxReplicas``."""
    queue = server.queue
    if queue.autoscaling == "cpu":
        return [Issue("server.queue.backlog", "only applies when server.queue.autoscaling is backlog")] \
            if _set(queue, "backlog") else []
    issues: list[Issue] = []
    if server.deployment_model != "standalone":
        issues.append(Issue("server.queue.autoscaling", "backlog scaling needs server.deploymentModel standalone "
                            "(a control plane scales its own queue)"))
    if queue.max_replicas is None or queue.max_replicas <= queue.replicas:
        issues.append(Issue("server.queue.maxReplicas", f"autoscaling backlog scales the queue between replicas "
                            f"{queue.replicas} and maxReplicas: set maxReplicas above replicas (got "
                            f"{'unset' if queue.max_replicas is None else queue.max_replicas})"))
    if _set(queue, "target_cpu_percent"):
        issues.append(Issue("server.queue.targetCpuPercent", "only applies when server.queue.autoscaling is cpu "
                            "(KEDA scales on the backlog)"))
    return issues


IAM_AUTH_VARIABLE = "AGENT_POSTGRES_IAM_AUTH_PROVIDER"


def check_iam(postgres: PostgresConfig, server: ServerConfig) -> list[Issue]:
    """IAM database authentication: a server that reads the provider variable, an IRSA role to mint tokens
    with, and a queue autoscaler that can log in without a password (KEDA's cannot)."""
    if postgres.mode != "rds" or not postgres.iam_authentication:
        return []
    issues = _iam_prerequisites("postgres.iamAuthentication", str(env.ENV[IAM_AUTH_VARIABLE].min_version),
                                f"({IAM_AUTH_VARIABLE})", "rds-db:connect", server)
    if server.queue.autoscaling == "backlog":
        issues.append(Issue("server.queue.autoscaling", "backlog scaling cannot be used with "
                            "postgres.iamAuthentication: KEDA's postgresql scaler logs in with a password only "
                            "(kedacore/keda#7096); use autoscaling cpu"))
    if server.stuck_runs is not None:
        issues.append(Issue("server.stuckRuns", "cannot be used with postgres.iamAuthentication: the check logs in "
                            "with the URI of the server's Secret, which then carries no password (the server mints "
                            "its IAM token itself)"))
    return issues


REDIS_QUEUE_SERVER = (0, 8, 0)
REDIS_QUEUE_MINIMUM = (6, 2, 0)
REDIS_QUEUE_SOURCE = ("Agent Server changelog v0.8.0: the Redis-backed run queue enqueues with ZADD ... LT, added in "
                      "Redis 6.2; on Redis 5.0 to 6.1 enqueue fails with a generic ERR syntax error")


def _redis_too_old(server: ServerConfig, redis: RedisConfig) -> list[Issue]:
    """An ElastiCache Redis the server's run queue cannot use (``REDIS_QUEUE_SOURCE``). Without a server version
    the release is assumed to be a supported one, and every release this library verified needs 6.2."""
    if redis.mode == "external" or redis.engine != "redis" or parse_version(redis.version) >= REDIS_QUEUE_MINIMUM:
        return []
    version = server.version
    if version is not None and version < REDIS_QUEUE_SERVER:
        return []
    running = (f"langgraph-api {server.server_version}" if version is not None
               else "the server (serverVersion unset: every verified release)")
    return [Issue("redis.engineVersion", f"Redis {redis.version} is too old for {running}: servers ≥ 0.8.0 enqueue "
                  "runs with ZADD ... LT (Redis ≥ 6.2) and fail with 'ERR syntax error' on older Redis (Agent Server "
                  "changelog 0.8.0); use 6.2 or later")]


def check_postgres_tls(postgres: PostgresConfig, server: ServerConfig) -> list[Issue]:
    """A CA bundle (``verify-full``) is mounted into the pods this library runs; nothing else can open it."""
    if postgres.ca_bundle is None:
        return []
    issues: list[Issue] = []
    if server.deployment_model != "standalone":
        issues.append(Issue("postgres.caBundle", "needs server.deploymentModel standalone: the bundle is mounted "
                            "into the server's pods, which a LangSmith control plane runs itself"))
    if server.queue.autoscaling == "backlog":
        issues.append(Issue("server.queue.autoscaling", "backlog scaling cannot be used with postgres.caBundle: "
                            "KEDA's postgresql scaler reads the server's URI, whose sslrootcert names a file only the "
                            "server's pods have; use autoscaling cpu"))
    return issues


def _redis_iam_engine(redis: RedisConfig) -> list[Issue]:
    """IAM authentication on an engine that has it (ElastiCache User Guide, 'Authenticating with IAM')."""
    if _set(redis, "iam_user_id") and not redis.iam_authentication:
        return [Issue("redis.iamUserId", "only used with redis.iamAuthentication true")]
    if redis.iam_authentication and redis.version in ELASTICACHE_VERSIONS[redis.engine] \
            and not elasticache_iam_supported(redis.engine, redis.version):
        minimum = ".".join(map(str, ELASTICACHE_IAM_MINIMUM[redis.engine][:2]))
        return [Issue("redis.iamAuthentication", f"ElastiCache IAM authentication needs {redis.engine} ≥ {minimum} "
                      f"(got engineVersion {redis.version})")]
    return []


REDIS_IAM_VARIABLE = "AGENT_REDIS_IAM_AUTH_PROVIDER"
REDIS_IAM_AWS_MINIMUM = "0.13.0"
"""The first release whose AGENT_REDIS_IAM_AUTH_PROVIDER takes `aws`: the variable is read from 0.12.0 (Azure only
then, releases.json), the AWS provider for Redis came with 0.13.0 (Agent Server changelog v0.13.0rc1: 'Add AWS IAM
auth support for Redis connections')."""


def check_redis_iam(redis: RedisConfig, server: ServerConfig) -> list[Issue]:
    """ElastiCache IAM authentication against the server on the Redis (its own, or a shared Redis component): a
    release with the AWS provider for Redis, a standalone server and an IRSA role to sign tokens with."""
    if redis.mode == "external" or not redis.iam_authentication:
        return []
    return _iam_prerequisites("redis.iamAuthentication", REDIS_IAM_AWS_MINIMUM,
                              f"({REDIS_IAM_VARIABLE} with the aws provider)", "elasticache:Connect", server)


def _iam_prerequisites(key: str, minimum: str, provider: str, grant: str, server: ServerConfig) -> list[Issue]:
    """What IAM authentication to a store (``key``) needs of the server: to run standalone (a control plane has
    credentials of its own), a release ≥ ``minimum`` that has the ``provider``, and an IRSA role to attach the
    ``grant`` to and sign tokens with."""
    issues: list[Issue] = []
    if server.deployment_model != "standalone":
        issues.append(Issue(key, "needs server.deploymentModel standalone (a LangSmith control plane runs the server "
                            "with credentials of its own)"))
    if server.version is None:
        issues.append(Issue(key, f"needs langgraph-api ≥ {minimum} {provider}: set server.serverVersion to the "
                            "image's version"))
    elif server.version < parse_version(minimum):
        issues.append(Issue(key, f"needs langgraph-api ≥ {minimum} {provider} but server.serverVersion is "
                            f"{server.server_version}"))
    if server.deployment_model == "standalone" and server.service_account_role_arn is None \
            and server.oidc_provider_arn is None:
        issues.append(Issue("server.serviceAccountRoleArn", f"{key} needs the server's IRSA role ({grant} is "
                            "attached to it): set serviceAccountRoleArn or oidcProviderArn"))
    return issues


def check_server_on_redis(server: ServerConfig, redis: RedisConfig) -> list[Issue]:
    """The server's Redis database number and version against the Redis it uses (its own or a shared one)."""
    return [*_redis_too_old(server, redis), *_redis_database(server, redis)]


def _redis_database(server: ServerConfig, redis: RedisConfig) -> list[Issue]:
    if redis.is_cluster and server.redis_database != 0:
        return [Issue("server.redisDatabase", f"cluster mode has only database 0 (got {server.redis_database}); "
                      "isolate deployments with redisKeyPrefix")]
    if redis.mode == "external" and server.redis_database != 0:
        return [Issue("server.redisDatabase", "put the database in the external redisUri instead")]
    return []


def _check_ingress(server: ServerConfig) -> list[Issue]:
    ingress = server.ingress
    if ingress is None:
        return []
    issues: list[Issue] = []
    if ingress.class_name == "alb":
        if server.network_policy.enabled and not server.network_policy.ingress_cidrs:
            issues.append(Issue("server.networkPolicy.ingressCidrs", "required with className alb: the load "
                                "balancer reaches the pods' IPs directly from its subnets (IP targets), not from an "
                                "ingress controller's namespace, so without them the NetworkPolicy drops its "
                                "traffic and health checks; name the VPC's CIDR or the load balancer's subnets"))
        if ingress.tls_secret_name is not None:
            issues.append(Issue("server.ingress.tlsSecretName", "the AWS Load Balancer Controller (className alb) "
                                "terminates TLS with ACM and ignores TLS secrets: set certificateArn instead"))
    else:
        for field in ("scheme", "certificate_arn"):
            if _set(ingress, field):
                issues.append(Issue(f"server.ingress.{_alias(type(ingress), field)}", "only applies when "
                                    f"server.ingress.className is alb (got {show(ingress.class_name)})"))
    return issues


def _check_mongo(server: ServerConfig, secrets: Secrets) -> list[Issue]:
    issues: list[Issue] = []
    if server.checkpointer_backend == "mongo" and secrets.mongodb_uri is None:
        issues.append(Issue("mongodbUri", "secret required when server.checkpointerBackend is mongo"))
    uri = secrets.plain("mongodb_uri")
    if uri is not None:
        parts = urlsplit(uri)
        if parts.scheme not in {"mongodb", "mongodb+srv"} or not parts.netloc:
            issues.append(Issue("mongodbUri", "must be a mongodb:// or mongodb+srv:// URI"))
        elif parts.path.strip("/") == "":
            issues.append(Issue("mongodbUri", "must name the database in the path (mongodb://host/database)"))
    if secrets.mongodb_uri is not None and server.checkpointer_backend != "mongo":
        issues.append(Issue("mongodbUri", "set but server.checkpointerBackend is not mongo", "warning"))
    return issues


def _check_telemetry(server: ServerConfig, secrets: Secrets | None) -> list[Issue]:
    issues: list[Issue] = []
    otel, datadog = server.otel, server.datadog
    if otel.enabled and not (otel.endpoint or otel.traces_endpoint):
        issues.append(Issue("server.otel.endpoint", "otel.enabled needs endpoint or tracesEndpoint (servers after "
                            "0.7.17 ignore LS_APM_OTEL_ENABLED without one)"))
    if not otel.enabled and (otel.endpoint or otel.traces_endpoint or (secrets and secrets.otel_headers)):
        issues.append(Issue("server.otel.enabled", "OTEL endpoint or headers are set but otel.enabled is false",
                            "warning"))
    if datadog.enabled and secrets is not None and secrets.datadog_api_key is None:
        issues.append(Issue("datadogApiKey", "secret required when server.datadog.enabled is true"))
    if server.langsmith_tracing is True and secrets is not None and secrets.langsmith_api_key is None:
        issues.append(Issue("server.langsmithTracing", "true but langsmithApiKey is not set: the server traces only "
                            "with a key, so LANGSMITH_TRACING is not rendered (set the key, or drop the setting)",
                            "warning"))
    if datadog.enabled and otel.enabled:
        issues.append(Issue("server.datadog.enabled", "Datadog (ddtrace-run) and OpenTelemetry are both on; "
                            "ddtrace may override the OTEL instrumentation", "warning"))
    return issues


def _check_extra_env(server: ServerConfig) -> list[Issue]:
    managed = env.managed_names()
    issues = [
        Issue(f"server.{key}.{name}", f"{name} is managed by this library; set it through its config key "
              f"({env.ENV[name].source})")
        for key, names in (("extraEnv", server.extra_env), ("extraSecretEnv", server.extra_secret_env))
        for name in sorted(names)
        if name in managed
    ]
    issues += [Issue(f"server.extraSecretEnv.{name}", f"{name} is also in server.extraEnv: give each variable "
                     "once (a secret one only in extraSecretEnv)")
               for name in sorted(set(server.extra_env) & set(server.extra_secret_env))]
    return issues


_GATED: tuple[tuple[str, Callable[[ServerConfig], bool]], ...] = (
    ("REDIS_KEY_PREFIX", lambda s: _set(s, "redis_key_prefix")),
    ("LANGGRAPH_POSTGRES_POOL_MAX_SIZE", lambda s: _set(s, "postgres_pool_max_size")),
    ("BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS", lambda s: _set(s, "bg_job_shutdown_grace_period_secs")),
    ("LS_CHECKPOINT_DELETE", lambda s: s.checkpoint_delete is not None),
    ("LS_APM_OTEL_ENABLED", lambda s: s.otel.enabled),
    ("LSD_PROM_METRICS_ENABLED", lambda s: s.metrics.enabled),
)
"""Variables that need a newer server than the oldest supported, and whether a config sets them; each is
reported at the config key it is rendered from (``env.ENV[name].source``)."""


class _Condition(NamedTuple):
    path: str
    """The key the advisory is reported at."""
    applies: Callable[[ServerConfig], bool]
    """Whether a server config meets the condition."""
    message: Callable[[str | None, str], str]
    """The issue's opening, from the server version and the advisory's title."""
    remedy: str = ""
    """Advice beyond moving to a release the advisory does not affect."""


_CONDITIONS: dict[Condition | None, _Condition] = {
    None: _Condition("server.serverVersion", lambda s: True,
                     lambda version, title: f"langgraph-api {version} is affected by {title}"),
    "wildcard-cors-ingress": _Condition(
        "server.corsAllowOrigins", lambda s: "*" in s.cors_allow_origins and s.ingress is not None,
        lambda version, title: f"'*' with an ingress on langgraph-api {version}: {title}",
        "; or list the allowed origins"),
}
"""Each advisory condition (``None``: an advisory without one): where and how it is reported, and whether a server
config meets it."""


def _advisory_issue(server: ServerConfig, advisory: Advisory, target: str) -> Issue:
    row = _CONDITIONS[advisory.condition]
    return Issue(row.path, f"{row.message(server.server_version, advisory.title)} ({advisory.summary}); fixed in "
                 f"{', '.join(advisory.fixed)}: move to {target} or later (the oldest verified release no known "
                 f"advisory affects){row.remedy}",
                 "error" if server.strict_versions else "warning")


def _check_advisories(server: ServerConfig) -> list[Issue]:
    """A server release with a published security advisory that applies to this config: a warning, an error under
    ``strictVersions``. The advice names a release no known advisory affects."""
    if server.server_version is None:
        return []
    found = [advisory for advisory in advisories_for(server.server_version)
             if _CONDITIONS[advisory.condition].applies(server)]
    if not found:
        return []
    target = move_to(server.server_version)
    return [_advisory_issue(server, advisory, target) for advisory in found]


def _check_versions(server: ServerConfig) -> list[Issue]:
    issues = [
        Issue(env.ENV[name].source, f"{name} needs langgraph-api ≥ {env.ENV[name].min_version} but "
              f"server.serverVersion is {server.server_version}")
        for name, used in _GATED
        if used(server) and not env.supported(name, server.version)
    ]
    if server.server_version is not None and newer_than_verified(server.server_version):
        # What a release reads is only known once its wheel is in releases.json: strictVersions, which refuses
        # releases the library cannot vouch for, refuses it too.
        issues.append(Issue("server.serverVersion", f"langgraph-api {server.server_version} is newer than "
                            f"{newest_verified()}, the newest release the environment was verified against "
                            "(releases.json): variables it renders may be renamed or ignored there; verify it with "
                            f"`agent-server-infra releases --add {server.server_version} --write`",
                            "error" if server.strict_versions else "warning"))
    return issues
