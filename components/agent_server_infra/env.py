"""The server's environment for one role: validated config plus data-store facts, split into plain and secret.

The variables, their sources, defaults and minimum versions are the table of
:mod:`agent_server_infra.env_table` (re-exported here); :func:`render_env` fills it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from .env_table import (
    BOTH,
    CONTROL_PLANE,
    ENV,
    MIT_RUNTIME,
    RUNTIME_LIMITS,
    SERVER_PORT,
    STANDALONE,
    DeploymentModel,
    EnvVar,
    RuntimeLimit,
    default_bool,
    default_int,
    default_str,
    managed_names,
    supported,
)
from .sizing import bg_job_max_retries

if TYPE_CHECKING:
    from .config import Secrets, ServerConfig

__all__ = [
    "BOTH",
    "CONTROL_PLANE",
    "ENV",
    "MIT_RUNTIME",
    "POSTGRES_CA_DIR",
    "POSTGRES_CA_FILE",
    "POSTGRES_CA_PATH",
    "RUNTIME_LIMITS",
    "SERVER_PORT",
    "STANDALONE",
    "DeploymentModel",
    "EnvVar",
    "PostgresFacts",
    "RedisFacts",
    "RenderedEnv",
    "Role",
    "RuntimeLimit",
    "default_bool",
    "default_int",
    "default_str",
    "langsmith_tracing",
    "managed_names",
    "postgres_uri",
    "postgres_uri_name",
    "redis_uri",
    "redis_uri_name",
    "render_env",
    "secret_text",
    "supported",
    "verified_uri",
]

# --- rendering ---------------------------------------------------------------------------------------------

Role = Literal["api", "queue", "control-plane"]


@dataclass(frozen=True)
class PostgresFacts:
    """Where the server's Postgres is. ``uri`` (external mode) is used verbatim instead of the parts."""

    host: str = ""
    port: int = 5432
    database: str = ""
    user: str = ""
    password: str = ""
    uri: str | None = None
    iam: bool = False
    """RDS IAM authentication: the URI carries no password and the server mints a token per connection."""
    root_cert: str | None = None
    """Path of the CA bundle in the server's containers: the URI then verifies the server (``verify-full``)."""


@dataclass(frozen=True)
class RedisFacts:
    """Where the server's Redis is. ``uri`` (external mode) is used verbatim instead of the parts."""

    host: str = ""
    port: int = 6379
    token: str | None = None
    tls: bool = True
    cluster: bool = False
    uri: str | None = None
    user: str | None = None
    """ElastiCache IAM authentication: the IAM user the URI names (no token; the server signs one per
    connection)."""

    @property
    def iam(self) -> bool:
        return self.user is not None


@dataclass(frozen=True)
class RenderedEnv:
    """The server's environment split by sensitivity: ``plain`` goes to a ConfigMap, ``secret`` to a Secret."""

    plain: dict[str, str]
    secret: dict[str, str]

    def merged(self) -> dict[str, str]:
        return {**self.plain, **self.secret}


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


POSTGRES_CA_DIR = "/etc/agent-server/postgres-ca"
"""Where the Postgres CA bundle is mounted (read-only, from a ConfigMap) in both roles and the bootstrap Job."""
POSTGRES_CA_FILE = "ca-bundle.pem"
POSTGRES_CA_PATH = f"{POSTGRES_CA_DIR}/{POSTGRES_CA_FILE}"


def postgres_uri(facts: PostgresFacts) -> str:
    """``postgresql://user:pw@host:port/db?sslmode=require`` with user, password and database URL-encoded (no
    password with IAM authentication); with a CA bundle, ``sslmode=verify-full&sslrootcert=<path>``."""
    if facts.uri is not None:
        return facts.uri
    user = quote(facts.user, safe="")
    credentials = user if facts.iam else f"{user}:{quote(facts.password, safe='')}"
    database = quote(facts.database, safe="")
    uri = f"postgresql://{credentials}@{_host(facts.host)}:{facts.port}/{database}?sslmode=require"
    return verified_uri(uri, facts.root_cert) if facts.root_cert else uri


def verified_uri(uri: str, root_cert: str) -> str:
    """``uri`` told to verify the server against the CA bundle at ``root_cert``: ``sslmode=verify-full`` (the
    certificate chains to the bundle and names the host) and ``sslrootcert``, replacing whatever the query said of
    either. libpq reads both (PostgreSQL docs, "SSL Support": verify-full); so does ``langgraph-runtime-pg``'s
    asyncpg engine (``_build_asyncpg_ssl_connect_arg``: a default SSL context with ``cafile=sslrootcert``)."""
    parts = urlsplit(uri)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)
             if key.lower() not in {"sslmode", "sslrootcert"}]
    query += [("sslmode", "verify-full"), ("sslrootcert", root_cert)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def redis_uri(facts: RedisFacts, database: int = 0) -> str:
    """``rediss://:token@host:port/db`` (``redis://`` without TLS), ``rediss://user@host:port/db`` with IAM
    authentication; cluster mode has only database 0."""
    if facts.uri is not None:
        return facts.uri
    scheme = "rediss" if facts.tls else "redis"
    if facts.user is not None:
        auth = f"{quote(facts.user, safe='')}@"
    else:
        auth = f":{quote(facts.token, safe='')}@" if facts.token else ""
    path = "" if facts.cluster else f"/{database}"
    return f"{scheme}://{auth}{_host(facts.host)}:{facts.port}{path}"


def _derived_name(source: str, model: DeploymentModel) -> str:
    """The one variable the table derives from ``source`` under a deployment model."""
    [name] = [row.name for row in ENV.values() if row.source == source and model in row.models]
    return name


def postgres_uri_name(model: DeploymentModel) -> str:
    """The secret variable that holds the Postgres URI under a deployment model, as the table says (the backlog
    autoscaler reads the same key of the server's Secret)."""
    return _derived_name("derived:postgres", model)


def redis_uri_name(model: DeploymentModel) -> str:
    """The secret variable that holds the Redis URI under a deployment model, as the table says."""
    return _derived_name("derived:redis", model)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def langsmith_tracing(server: ServerConfig, secrets: Secrets) -> str | None:
    """``LANGSMITH_TRACING``: ``false`` when switched off, ``true`` only with a LangSmith API key (unset or
    ``true``), else nothing: the server traces only with a key (``langgraph_api/config``), and without one the SDK
    would retry uploads that can only fail."""
    if server.langsmith_tracing is False:
        return "false"
    return "true" if secrets.langsmith_api_key is not None else None


def secret_text(value: Any) -> str:
    """An ``extraSecretEnv`` value as its text: a ``SecretStr`` (as config checks it) unwrapped, anything else
    (plain text, an Output) as it is."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _checkpoint_delete_json(server: ServerConfig) -> str | None:
    if server.checkpoint_delete is None:
        return None
    return json.dumps(server.checkpoint_delete.model_dump(by_alias=True), separators=(",", ":"))


def render_env(
    server: ServerConfig,
    secrets: Secrets,
    postgres: PostgresFacts,
    redis: RedisFacts,
    *,
    pool_max_size: int,
    redis_max_connections: int,
    role: Role = "queue",
) -> RenderedEnv:
    """Turn validated config plus data-store facts into the server's environment for one role.

    The API role runs with ``N_JOBS_PER_WORKER=0`` (it serves, the queue works). URI names follow
    ``server.deploymentModel``. A variable whose minimum server version is above ``server.serverVersion`` is
    left out (validation already rejected it when it was set explicitly). ``extraEnv`` joins the plain variables,
    ``extraSecretEnv`` the secret ones (its values as given: the caller resolves Outputs first).
    """
    model = server.deployment_model
    otel, datadog = server.otel, server.datadog
    values: dict[str, str | None] = {
        "DATABASE_URI": postgres_uri(postgres),
        "POSTGRES_URI_CUSTOM": postgres_uri(postgres),
        "AGENT_POSTGRES_IAM_AUTH_PROVIDER": "aws" if postgres.iam else None,
        "REDIS_URI": redis_uri(redis, server.redis_database),
        "REDIS_URI_CUSTOM": redis_uri(redis, server.redis_database),
        "AGENT_REDIS_IAM_AUTH_PROVIDER": "aws" if redis.iam else None,
        "REDIS_CLUSTER": _bool(redis.cluster),
        "REDIS_KEY_PREFIX": server.redis_key_prefix,
        "REDIS_MAX_CONNECTIONS": str(redis_max_connections),
        "LANGGRAPH_POSTGRES_POOL_MAX_SIZE": str(pool_max_size),
        "PORT": str(SERVER_PORT),
        "LSD_PROM_METRICS_ENABLED": "true" if server.metrics.enabled else None,
        "LSD_PROM_METRICS_PORT": str(server.metrics.port) if server.metrics.enabled else None,
        "N_JOBS_PER_WORKER": "0" if role == "api" else str(server.n_jobs_per_worker),
        "BG_JOB_ISOLATED_LOOPS": _bool(server.bg_job_isolated_loops),
        "BG_JOB_MAX_RETRIES": str(bg_job_max_retries(server)),
        "BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS": str(server.bg_job_shutdown_grace_period_secs),
        "BG_JOB_TIMEOUT_SECS": str(server.bg_job_timeout_secs),
        "CORS_ALLOW_ORIGINS": ",".join(server.cors_allow_origins),
        "DD_API_KEY": secrets.datadog_api_key.get_secret_value()
        if datadog.enabled and secrets.datadog_api_key else None,
        "DD_SITE": datadog.site if datadog.enabled else None,
        "DD_ENV": datadog.env if datadog.enabled else None,
        "DD_SERVICE": datadog.service if datadog.enabled else None,
        "LS_CHECKPOINT_DELETE": _checkpoint_delete_json(server),
        "LS_DEFAULT_CHECKPOINTER_BACKEND": server.checkpointer_backend,
        "LS_MONGODB_URI": secrets.mongodb_uri.get_secret_value() if secrets.mongodb_uri else None,
        "LANGSMITH_API_KEY": secrets.langsmith_api_key.get_secret_value() if secrets.langsmith_api_key else None,
        "LANGGRAPH_CLOUD_LICENSE_KEY": secrets.license_key.get_secret_value() if secrets.license_key else None,
        "LANGSMITH_ENDPOINT": server.langsmith_endpoint,
        "LANGSMITH_TRACING": langsmith_tracing(server, secrets),
        "LOG_COLOR": _bool(server.log_color),
        "LOG_LEVEL": server.log_level,
        "LOG_JSON": _bool(server.log_json),
        "MOUNT_PREFIX": server.mount_prefix,
        "LS_APM_OTEL_ENABLED": "true" if otel.enabled else None,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otel.endpoint if otel.enabled else None,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otel.traces_endpoint if otel.enabled else None,
        "OTEL_SERVICE_NAME": otel.service_name if otel.enabled else None,
        "OTEL_EXPORTER_OTLP_HEADERS": secrets.otel_headers.get_secret_value()
        if otel.enabled and secrets.otel_headers else None,
        "RESUMABLE_STREAM_TTL_SECONDS": str(server.resumable_stream_ttl_seconds),
    }
    missing = set(ENV) ^ set(values)
    assert not missing, f"env table and render_env disagree on {sorted(missing)}"
    version = server.version
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in values.items():
        row = ENV[name]
        if value is None or model not in row.models or not supported(name, version):
            continue
        (secret if row.secret else plain)[name] = value
    for name, value in server.extra_env.items():
        plain[name] = value
    for name, value in server.extra_secret_env.items():
        secret[name] = secret_text(value)
    return RenderedEnv(plain=dict(sorted(plain.items())), secret=dict(sorted(secret.items())))
