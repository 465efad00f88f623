"""Cross-field rules of the stack config: small named checks, each returning the problems it finds.

Every check takes validated sections and returns a list of :class:`Issue`; none raises, so a stack file with
several mistakes gets all of them reported at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from . import env_table as env
from .advisories import advisories_for
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
    ELASTICACHE_VERSIONS,
    ELASTICACHE_WINDOWS,
    LOG_RETENTION_DAYS,
    RDS_WINDOWS,
    WindowRules,
    daily_minutes,
    minimum_storage_ceiling,
    weekly_minutes,
    windows_overlap,
)
from .sizing import isolated_loop_pool_problem

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
        "iam_authentication", "iam_username",
    ),
    _RDS_ONLY,
)
_MANAGED_REDIS = {"single", "cluster"}
_REDIS_MODES: dict[str, set[str]] = {
    **dict.fromkeys(
        (
            "engine", "node_type", "engine_version", "port", "snapshot_retention_days", "snapshot_window",
            "maintenance_window", "kms_key_id", "protect", "slow_log_retention_days",
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
                      "create_namespace", "run_as_user", "run_as_group", "network_policy", "tcp_retries2",
                      "stuck_runs"):
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
    issues: list[Issue] = []
    minimum = env.ENV[IAM_AUTH_VARIABLE].min_version
    if server.deployment_model != "standalone":
        issues.append(Issue("postgres.iamAuthentication", "needs server.deploymentModel standalone (a LangSmith "
                            "control plane runs the server with credentials of its own)"))
    if server.server_version is None:
        issues.append(Issue("postgres.iamAuthentication", f"needs langgraph-api ≥ {minimum} ({IAM_AUTH_VARIABLE}): "
                            "set server.serverVersion to the image's version"))
    elif not env.supported(IAM_AUTH_VARIABLE, server.version):
        issues.append(Issue("postgres.iamAuthentication", f"needs langgraph-api ≥ {minimum} ({IAM_AUTH_VARIABLE}) "
                            f"but server.serverVersion is {server.server_version}"))
    if server.deployment_model == "standalone" and server.service_account_role_arn is None \
            and server.oidc_provider_arn is None:
        issues.append(Issue("server.serviceAccountRoleArn", "postgres.iamAuthentication needs the server's IRSA role "
                            "(rds-db:connect is attached to it): set serviceAccountRoleArn or oidcProviderArn"))
    if server.queue.autoscaling == "backlog":
        issues.append(Issue("server.queue.autoscaling", "backlog scaling cannot be used with "
                            "postgres.iamAuthentication: KEDA's postgresql scaler logs in with a password only "
                            "(kedacore/keda#7096); use autoscaling cpu"))
    if server.stuck_runs is not None:
        issues.append(Issue("server.stuckRuns", "cannot be used with postgres.iamAuthentication: the check logs in "
                            "with the URI of the server's Secret, which then carries no password (the server mints "
                            "its IAM token itself)"))
    return issues


def check_server_on_redis(server: ServerConfig, redis: RedisConfig) -> list[Issue]:
    """The server's Redis database number against the Redis it uses (its own or a shared one)."""
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
    if datadog.enabled and otel.enabled:
        issues.append(Issue("server.datadog.enabled", "Datadog (ddtrace-run) and OpenTelemetry are both on; "
                            "ddtrace may override the OTEL instrumentation", "warning"))
    return issues


def _check_extra_env(server: ServerConfig) -> list[Issue]:
    managed = env.managed_names()
    return [
        Issue(f"server.extraEnv.{name}", f"{name} is managed by this library; set it through its config key "
              f"({env.ENV[name].source})")
        for name in sorted(server.extra_env)
        if name in managed
    ]


_GATED: tuple[tuple[str, Callable[[ServerConfig], bool]], ...] = (
    ("REDIS_KEY_PREFIX", lambda s: _set(s, "redis_key_prefix")),
    ("LANGGRAPH_POSTGRES_POOL_MAX_SIZE", lambda s: _set(s, "postgres_pool_max_size")),
    ("BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS", lambda s: _set(s, "bg_job_shutdown_grace_period_secs")),
    ("LS_CHECKPOINT_DELETE", lambda s: s.checkpoint_delete is not None),
    ("LS_APM_OTEL_ENABLED", lambda s: s.otel.enabled),
)
"""Variables that need a newer server than the oldest supported, and whether a config sets them; each is
reported at the config key it is rendered from (``env.ENV[name].source``)."""


def _check_advisories(server: ServerConfig) -> list[Issue]:
    """A server release with a published security advisory: a warning, an error under ``strictVersions``."""
    if server.server_version is None:
        return []
    return [
        Issue("server.serverVersion", f"langgraph-api {server.server_version} is affected by {advisory.id} "
              f"({advisory.summary}); fixed in {', '.join(advisory.fixed)}: move to "
              f"{advisory.fix_for(server.server_version)} or later", "error" if server.strict_versions else "warning")
        for advisory in advisories_for(server.server_version)
    ]


def _check_versions(server: ServerConfig) -> list[Issue]:
    return [
        Issue(env.ENV[name].source, f"{name} needs langgraph-api ≥ {env.ENV[name].min_version} but "
              f"server.serverVersion is {server.server_version}")
        for name, used in _GATED
        if used(server) and not env.supported(name, server.version)
    ]
