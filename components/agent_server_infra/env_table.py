"""The table of every Agent Server environment variable this library sets.

This table and :func:`agent_server_infra.env.render_env`, which fills it, are the only places that spell an
environment variable name. Each row says where the value comes from
(a config key, a secret key or a data store), the server's own default, the first ``langgraph-api`` version that
reads it, whether it is a secret (rendered into a Kubernetes Secret, never a ConfigMap) and which deployment
models render it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .pod_security import TCP_RETRIES2_DEFAULT, TCP_RETRIES2_MIN, tcp_retries2_timeout
from .versions import parse_version

DeploymentModel = Literal["standalone", "control-plane"]
Reader = Literal["langgraph-api", "image", "ddtrace", "opentelemetry", "control-plane"]
"""What reads a variable: ``langgraph-api`` (its wheel's Python: checked against the release table,
``releases.json``), the Agent Server image around it (its entrypoint or licensed runtime), the Datadog or
OpenTelemetry SDK, or a LangSmith control plane (which translates it for the runtime)."""
BOTH: frozenset[DeploymentModel] = frozenset({"standalone", "control-plane"})
STANDALONE: frozenset[DeploymentModel] = frozenset({"standalone"})
CONTROL_PLANE: frozenset[DeploymentModel] = frozenset({"control-plane"})
SERVER_PORT = 8000
"""The port both roles listen on (``PORT``): the API's HTTP server and the queue's health and metrics server."""


@dataclass(frozen=True)
class EnvVar:
    """One environment variable of the Agent Server and where this library gets its value."""

    name: str
    source: str
    """Config key (``server.nJobsPerWorker``), secret key (``secret:langsmithApiKey``) or ``derived:…``."""
    doc: str
    default: str | None = None
    """The server's own default when the variable is absent (``None``: no default)."""
    min_version: str | None = None
    secret: bool = False
    models: frozenset[DeploymentModel] = BOTH
    reader: Reader = "langgraph-api"

    @property
    def min_version_tuple(self) -> tuple[int, int, int] | None:
        return parse_version(self.min_version) if self.min_version else None


_ROWS: tuple[EnvVar, ...] = (
    EnvVar("DATABASE_URI", "derived:postgres", "Postgres URI the server reads when started directly "
           "(`postgresql://user:pw@host:port/db?sslmode=require`, user and password URL-encoded).",
           secret=True, models=STANDALONE),
    EnvVar("POSTGRES_URI_CUSTOM", "derived:postgres", "Postgres URI handed to a LangSmith control plane; once "
           "set it must stay set for the deployment's lifetime.", secret=True, models=CONTROL_PLANE,
           reader="control-plane"),
    EnvVar("AGENT_POSTGRES_IAM_AUTH_PROVIDER", "postgres.iamAuthentication", "`aws` with RDS IAM "
           "authentication: the server mints a token for the passwordless user of its URI with the pod's IRSA "
           "credentials (the EKS webhook sets AWS_REGION and the role); unset: the URI's password.", default="",
           min_version="0.12.0", models=STANDALONE),
    EnvVar("REDIS_URI", "derived:redis", "Redis URI the server reads when started directly "
           "(`rediss://:token@host:port/db`).", secret=True, models=STANDALONE),
    EnvVar("REDIS_URI_CUSTOM", "derived:redis", "Redis URI handed to a LangSmith control plane.",
           secret=True, models=CONTROL_PLANE),
    EnvVar("AGENT_REDIS_IAM_AUTH_PROVIDER", "redis.iamAuthentication", "`aws` with ElastiCache IAM "
           "authentication: the server signs a token for the user of its passwordless `rediss://user@host` URI "
           "with the pod's IRSA credentials (the EKS webhook sets AWS_REGION and the role); unset: the URI's AUTH "
           "token. langgraph-api reads it from 0.12.0 (`langgraph_api/config/__init__.py`, Azure only then); the "
           "AWS provider for Redis arrived in 0.13.0 (changelog v0.13.0rc1: 'Add AWS IAM auth support for Redis "
           "connections'), which `redis.iamAuthentication` requires.", default="", min_version="0.12.0",
           models=STANDALONE),
    EnvVar("REDIS_CLUSTER", "derived:redis.mode", "`true` when Redis runs in cluster mode (the URI is then the "
           "configuration endpoint).", default="false"),
    EnvVar("REDIS_KEY_PREFIX", "server.redisKeyPrefix", "Prefix of every Redis key, so deployments can share "
           "one Redis.", default="", min_version="0.1.9"),
    EnvVar("REDIS_MAX_CONNECTIONS", "server.redisMaxConnections", "Redis connection pool size per replica; "
           "derived from the Redis budget when unset.", default="2000"),
    EnvVar("LANGGRAPH_POSTGRES_POOL_MAX_SIZE", "server.postgresPoolMaxSize", "Postgres pool size per replica; "
           "derived from the Postgres budget when unset (never above 150).", default="150",
           min_version="0.2.12"),
    EnvVar("PORT", "derived:workload", "Port of the API's HTTP server (the image's entrypoint passes it to "
           "uvicorn) and of the queue's health and metrics server (`langgraph_api.queue_entrypoint`, which binds "
           "8080 without it); the probes, the container port and the Service follow it.", default="8000",
           models=STANDALONE),
    EnvVar("LSD_PROM_METRICS_ENABLED", "server.metrics.enabled", "`true` opens the dedicated Prometheus scrape "
           "endpoint on LSD_PROM_METRICS_PORT (changelog v0.11.0). Not read by the langgraph-api wheels (0.11.1 to "
           "0.16.7), whose API and queue serve the same OpenTelemetry registry at `<mountPrefix>/metrics` on PORT "
           "whatever it says (`langgraph_api/api/meta.py`, `langgraph_api/queue_entrypoint.py`); the queue depth "
           "gauges come from the API process only (`langgraph_api/metrics_collector.py`).", default="false",
           min_version="0.11.0", models=STANDALONE, reader="image"),
    EnvVar("LSD_PROM_METRICS_PORT", "server.metrics.port", "Port of the dedicated Prometheus scrape endpoint "
           "(changelog v0.11.0); the NetworkPolicy admits the scraper's namespaces to it and to PORT.",
           default="9464", min_version="0.11.0", models=STANDALONE, reader="image"),
    EnvVar("N_JOBS_PER_WORKER", "server.nJobsPerWorker", "Background jobs per queue worker; the API deployment "
           "runs with 0.", default="10"),
    EnvVar("BG_JOB_ISOLATED_LOOPS", "server.bgJobIsolatedLoops", "Run background jobs in their own event loop, "
           "each with a pool of poolMaxSize // nJobsPerWorker.", default="false"),
    EnvVar("BG_JOB_MAX_RETRIES", "server.bgJobMaxRetries", "Attempts a background run gets, not retries: attempt "
           "n fails with \"exceeded max attempts\" when n > the value (`langgraph_api/worker.py`). Derived when unset "
           "(standalone; a control-plane deployment keeps the server's 3): the server's 3, or one more than the times "
           "one queue rollout can interrupt a run (⌈maxReplicas / surge⌉ waves, +1 for a backlog-scaled queue; "
           "SIGTERM requeues a running run).", default="3"),
    EnvVar("BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS", "server.bgJobShutdownGracePeriodSecs", "Seconds the queue waits "
           "for running jobs on shutdown (0-3600); the pod's termination grace period is derived above it.",
           default="180", min_version="0.2.16"),
    EnvVar("BG_JOB_TIMEOUT_SECS", "server.bgJobTimeoutSecs", "Timeout of a background run in seconds.",
           default="86400"),
    EnvVar("CORS_ALLOW_ORIGINS", "server.corsAllowOrigins", "Allowed CORS origins, comma-joined.", default="*"),
    EnvVar("DD_API_KEY", "secret:datadogApiKey", "Datadog API key; the image's entrypoint wraps the server in "
           "ddtrace-run when it is set.", secret=True, reader="image"),
    EnvVar("DD_SITE", "server.datadog.site", "Datadog site.", default="datadoghq.com", reader="ddtrace"),
    EnvVar("DD_ENV", "server.datadog.env", "Datadog environment tag.", reader="ddtrace"),
    EnvVar("DD_SERVICE", "server.datadog.service", "Datadog service name.", reader="ddtrace"),
    EnvVar("LS_CHECKPOINT_DELETE", "server.checkpointDelete", "Deferred checkpoint deletion settings, compact "
           "JSON (read by the image's Postgres runtime, not by the langgraph-api wheel).", min_version="0.8.1",
           reader="image"),
    EnvVar("LS_DEFAULT_CHECKPOINTER_BACKEND", "server.checkpointerBackend", "Checkpointer backend: `default` "
           "(Postgres) or `mongo`. Every verified release refuses any other value at start-up "
           "(`langgraph_api/config/_parse.py`); a custom checkpointer is configured in `langgraph.json` "
           "(`checkpointer.path`), not here.", default="default"),
    EnvVar("LS_MONGODB_URI", "secret:mongodbUri", "MongoDB URI for the mongo checkpointer, with the database "
           "in the path.", secret=True),
    EnvVar("LANGSMITH_API_KEY", "secret:langsmithApiKey", "LangSmith API key (tracing and licensing).",
           secret=True),
    EnvVar("LANGGRAPH_CLOUD_LICENSE_KEY", "secret:licenseKey", "Agent Server license key for self-hosted "
           "images.", secret=True),
    EnvVar("LANGSMITH_ENDPOINT", "server.langsmithEndpoint", "Self-hosted LangSmith URL for traces."),
    EnvVar("LANGSMITH_TRACING", "server.langsmithTracing", "Trace runs to LangSmith. Unset, the server turns "
           "it on by itself when a LangSmith API key is set (`langgraph_api/config`); rendered `true` only with "
           "`langsmithApiKey` (without a key the SDK would retry uploads that can only fail), `false` when "
           "`langsmithTracing` is false."),
    EnvVar("LOG_COLOR", "server.logColor", "ANSI colours in console logs.", default="true"),
    EnvVar("LOG_LEVEL", "server.logLevel", "Log level.", default="INFO"),
    EnvVar("LOG_JSON", "server.logJson", "Structured JSON logs.", default="false"),
    EnvVar("MOUNT_PREFIX", "server.mountPrefix", "Path prefix the server is served under; probes and the "
           "ingress path follow it."),
    EnvVar("LS_APM_OTEL_ENABLED", "server.otel.enabled", "OpenTelemetry APM tracing (the image's entrypoint "
           "starts the server instrumented); needs an endpoint.", default="false", min_version="0.5.32",
           reader="image"),
    EnvVar("OTEL_EXPORTER_OTLP_ENDPOINT", "server.otel.endpoint", "OTLP endpoint.", min_version="0.5.32"),
    EnvVar("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "server.otel.tracesEndpoint", "OTLP traces endpoint.",
           min_version="0.5.32"),
    EnvVar("OTEL_SERVICE_NAME", "server.otel.serviceName", "OpenTelemetry service name.",
           min_version="0.5.32", reader="opentelemetry"),
    EnvVar("OTEL_EXPORTER_OTLP_HEADERS", "secret:otelHeaders", "OTLP exporter headers (usually an API key).",
           secret=True, min_version="0.5.32", reader="opentelemetry"),
    EnvVar("RESUMABLE_STREAM_TTL_SECONDS", "server.resumableStreamTtlSeconds", "TTL of resumable stream data "
           "in Redis.", default="120"),
)

ENV: dict[str, EnvVar] = {row.name: row for row in _ROWS}


@dataclass(frozen=True)
class RuntimeLimit:
    """Something a runtime does with a variable we render that is not what the variable says: the runtime's
    limit, not the library's, shown in the env reference so nobody tunes a knob that does nothing."""

    variables: tuple[str, ...]
    limit: str
    source: str


MIT_RUNTIME = "langgraph-runtime-pg 0.11.1.post1 (the MIT Postgres runtime, with langgraph-api 0.11.1)"
RUNTIME_LIMITS: tuple[RuntimeLimit, ...] = (
    RuntimeLimit(("BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS",),
                 "On SIGTERM the queue cancels its running runs at once and waits a hard-coded 5 s for them, "
                 "whatever the variable says (it is parsed and never used). A cancelled run goes back to `pending` "
                 "and another queue retries it (an attempt of `BG_JOB_MAX_RETRIES`); the pod's termination grace "
                 "period is still derived above the variable, for runtimes that honour it.",
                 "langgraph_runtime_pg/queue.py (SHUTDOWN_GRACE_PERIOD_SECS = 5, _shutdown_workers); "
                 "langgraph_api/worker.py (CancelledError is retriable)"),
    RuntimeLimit(("BG_JOB_MAX_RETRIES",),
                 "A run whose worker died (SIGKILL, OOM, a lost node) is swept back to `pending` only once its "
                 "heartbeat key expires: the heartbeat is a fixed 120 s (key TTL 240 s), so the run waits about "
                 "4 minutes for another queue. The runtime's own `LG_BG_JOB_HEARTBEAT` shortens it; this library "
                 "does not render it.",
                 "langgraph_runtime_pg/redis_stream.py (LG_BG_JOB_HEARTBEAT), langgraph_api/config "
                 "(BG_JOB_HEARTBEAT = 120), langgraph_runtime_pg/queue.py and ops.py (sweep)"),
    RuntimeLimit(("DATABASE_URI", "REDIS_URI"),
                 "No setting makes a store error mid-run retried: a run whose checkpoint write, read or stream "
                 "publish fails ends `error` (only a cancellation and the runtime's own `RetryableException` are "
                 "retriable). While the store is down even that status cannot be written: the run stays `running` "
                 "until a queue sweeps it once its heartbeat key expires (about 240 s) and runs it again, an "
                 "attempt of `BG_JOB_MAX_RETRIES`. Pending runs wait and run once the stores are back.",
                 "langgraph_api/worker.py (ALL_RETRIABLE_EXCEPTIONS); langgraph_runtime_pg/retry.py "
                 "(RETRIABLE_EXCEPTIONS = (RetryableException,)); langgraph_runtime_pg/ops.py (_sweep_single_run); "
                 "tests/integration/test_outages.py (70 s outages of each store)"),
    RuntimeLimit(("DATABASE_URI",),
                 "The checkpoint pool's reconnect back-off, not a setting, sets the recovery time after a Postgres "
                 "outage: psycopg_pool replaces a broken connection from its first failed use after 1 s (± 10 %), "
                 "doubling each time (1, 3, 7, 15, 31, 63, 127 s after it), and a run waits at most 30 s for a "
                 "connection, then fails with `PoolTimeout`, not retried. A run claimed just after an outage can "
                 "therefore wait for the next attempt (up to about as long as the outage lasted) or fail. The pool "
                 "checks no connection before handing it out: the first use of each idle connection the outage "
                 "broke fails (an API state read answers 500, a run ends `error`).",
                 "langgraph_runtime_pg/checkpoint.py (AsyncConnectionPool(min_size=1, max_size=10), no check); "
                 "psycopg_pool 3.3.3 base.py (AttemptWithBackoff: INITIAL_DELAY 1.0, DELAY_JITTER 0.1, DELAY_BACKOFF "
                 "2.0) and pool_async.py (timeout 30.0, reconnect_timeout 300)"),
    RuntimeLimit(("DATABASE_URI",),
                 "A failover that never resets the old connections (a dead host, dropped packets) stalls a whole "
                 "process with healthy probes: the checkpointer holds one lock per process across each query, so "
                 "one query on a dead connection blocks every run's checkpoints until the kernel gives up on it, "
                 f"{tcp_retries2_timeout(TCP_RETRIES2_DEFAULT)} s at the default `net.ipv4.tcp_retries2` of "
                 f"{TCP_RETRIES2_DEFAULT}. `server.tcpRetries2` (opt-in, an unsafe sysctl) bounds it: "
                 f"{tcp_retries2_timeout(TCP_RETRIES2_MIN)} s at {TCP_RETRIES2_MIN}. TCP keepalive parameters in the "
                 "URI are no way out: the runtime hands the URI's query parameters to asyncpg, which refuses them "
                 "(`connect() got an unexpected keyword argument 'keepalives'`), and keepalives never fire while "
                 "a query waits for its acknowledgement anyway.",
                 "langgraph/checkpoint/postgres/aio.py (AsyncPostgresSaver: self.lock held in _cursor); "
                 "langgraph_runtime_pg/database.py (asyncpg_engine_args); Linux ip-sysctl.rst (tcp_retries2)"),
    RuntimeLimit(("REDIS_KEY_PREFIX",),
                 "Ignored: langgraph-api reads it, but the runtime's keys do not carry it (its heartbeat keys are "
                 "`lg:run-heartbeat:<run id>`). Deployments sharing one Redis stay apart by run id; isolate them "
                 "by `redisDatabase` (single mode) as well where this runtime runs.",
                 "langgraph_api/config (REDIS_KEY_PREFIX); langgraph_runtime_pg (no use of it)"),
    RuntimeLimit(("LANGGRAPH_POSTGRES_POOL_MAX_SIZE",),
                 "Ignored: the runtime sizes its pool with its own `PG_POOL_SIZE`; the connection budget still "
                 "holds for runtimes that read the variable.",
                 "langgraph_runtime_pg/database.py"),
    RuntimeLimit(("BG_JOB_ISOLATED_LOOPS",),
                 "`true` breaks its background runs; keep the default (false) with this runtime.",
                 "tests/integration/test_agent_server.py (observed)"),
    RuntimeLimit(("DATABASE_URI",),
                 "A `%` in the URI breaks its Alembic migration (configparser interpolation): generated passwords "
                 "are URL-safe for that reason; a user-supplied one must avoid `%`.",
                 "langgraph_runtime_pg migrations (alembic config); tests/integration/test_agent_server.py"),
)


def default_int(name: str) -> int:
    """The server's default of an integer variable, for config defaults (one source of truth)."""
    value = ENV[name].default
    if value is None:
        raise LookupError(f"the env table has no server default for {name}")
    return int(value)


def default_bool(name: str) -> bool:
    return ENV[name].default == "true"


def default_str(name: str) -> str:
    value = ENV[name].default
    if value is None:
        raise LookupError(f"the env table has no server default for {name}")
    return value


def managed_names() -> frozenset[str]:
    """Every variable the library sets; ``extraEnv`` may not override these."""
    return frozenset(ENV)


def supported(name: str, version: tuple[int, int, int] | None) -> bool:
    """Whether a server of ``version`` reads variable ``name`` (an unknown version is assumed to)."""
    minimum = ENV[name].min_version_tuple
    return version is None or minimum is None or version >= minimum
