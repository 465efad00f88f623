"""Render a deployment's environment the way the components do, with the local servers as the data-store facts.

:class:`agent_server_infra.agent_server.AgentServer` validates the stack, sizes the pools with
``plan_connections`` and calls ``render_env(server, secrets, postgres.facts(), redis.facts(), pool_max_size=...,
redis_max_connections=..., role=...)``, where the facts are the RDS/ElastiCache address, port, names and generated
secrets. Here the facts are a local server's address and port instead; everything after that is the library's own
code (no URI is built in the tests).
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from agent_server_infra.env import (
    DeploymentModel,
    PostgresFacts,
    RedisFacts,
    RenderedEnv,
    Role,
    postgres_uri_name,
    render_env,
)
from agent_server_infra.stores import URL_SAFE_SPECIALS
from agent_server_infra.validate import ValidatedStack, validate_stack
from tests.helpers import NETWORK, full_raw

from .servers import PostgresDatabase, PostgresServer, RedisClusterServer, RedisServer

RedisMode = Literal["single", "cluster"]
_URL_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + URL_SAFE_SPECIALS


def generated_password(length: int = 40) -> str:
    """A password like the ones the components generate (``random.RandomPassword``: letters, digits, ``-_.~``)."""
    return "".join(secrets.choice(_URL_SAFE) for _ in range(length))


def unique_name(stem: str) -> str:
    """A database/role name valid for ``postgres.databaseName``/``postgres.username``, unique per call."""
    return f"{stem}_{secrets.token_hex(4)}"


def raw_stack(
    *,
    model: DeploymentModel = "standalone",
    redis_mode: RedisMode = "single",
    prefix: str = "team-a:",
    database: int = 3,
    postgres: dict[str, Any] | None = None,
    server: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``tests.helpers.full_raw`` (every variable set) with this deployment's Redis mode, prefix and database.

    The database and role names default to fresh unique ones, so tests can share one Postgres server.
    """
    raw = copy.deepcopy(full_raw(model))
    raw["postgres"] = {
        **raw["postgres"],
        "databaseName": unique_name("agents"),
        "username": unique_name("agent"),
        **(postgres or {}),
    }
    raw["redis"] = {"mode": redis_mode}
    raw["server"].update(
        redisKeyPrefix=prefix,
        # cluster mode has only database 0 (a validation rule)
        redisDatabase=0 if redis_mode == "cluster" else database,
        **(server or {}),
    )
    return raw


def server_stack(stem: str, *, mount_prefix: str, prefix: str, database: int, **server: Any) -> dict[str, Any]:
    """A minimal standalone stack for booting the real server: no license, tracing, Datadog or OTEL (they would
    call out of this machine), two jobs per worker, its own database and role named after ``stem``."""
    return {
        "network": NETWORK,
        "postgres": {"instanceClass": "db.t4g.medium", "databaseName": unique_name(stem),
                     "username": unique_name(stem)},
        "redis": {"mode": "single"},
        "server": {
            "image": "registry.example.com/agents:0.11.1",
            "serverVersion": "0.11.1",
            "mountPrefix": mount_prefix,
            "logJson": True,
            "logColor": False,
            "langsmithTracing": False,
            "nJobsPerWorker": 2,
            "redisKeyPrefix": prefix,
            "redisDatabase": database,
            **server,
        },
    }


@dataclass(frozen=True)
class Deployment:
    """One validated stack and the environment ``render_env`` gives its server."""

    stack: ValidatedStack
    env: RenderedEnv
    role: Role

    @property
    def model(self) -> DeploymentModel:
        return self.stack.config.server.deployment_model

    @property
    def postgres_uri(self) -> str:
        """The Postgres URI under the name this deployment model's server reads."""
        return self.env.secret[postgres_uri_name(self.model)]

    @property
    def redis_uri(self) -> str:
        """The Redis URI under the name this deployment model's server reads."""
        return self.env.secret["REDIS_URI" if self.model == "standalone" else "REDIS_URI_CUSTOM"]

    @property
    def prefix(self) -> str:
        return self.env.plain["REDIS_KEY_PREFIX"]


def postgres_facts(server: PostgresServer, stack: ValidatedStack, password: str) -> PostgresFacts:
    """What ``Postgres.facts()`` yields in RDS mode, with the local server's address and port."""
    config = stack.config.postgres
    return PostgresFacts(
        host=server.host, port=server.port, database=config.database_name, user=config.username, password=password
    )


def create_app_database(server: PostgresServer, stack: ValidatedStack, password: str) -> PostgresDatabase:
    """The stack's database and login role (a non-superuser owning the database), like the RDS master database."""
    config = stack.config.postgres
    return server.create_database(config.database_name, config.username, password)


def redis_facts(server: RedisServer | RedisClusterServer) -> RedisFacts:
    """What ``Redis.facts()`` yields for ElastiCache, with the local server (a cluster's first node as seed)."""
    return RedisFacts(
        host=server.host,
        port=server.port,
        token=server.password,
        tls=server.tls,
        cluster=isinstance(server, RedisClusterServer),
    )


def render(stack: ValidatedStack, postgres: PostgresFacts, redis: RedisFacts, role: Role | None = None) -> Deployment:
    """``render_env`` with the pool sizes of the stack's connection plan, as ``AgentServer`` calls it."""
    server = stack.config.server
    if role is None:
        role = "queue" if server.deployment_model == "standalone" else "control-plane"
    env = render_env(
        server,
        stack.config.secrets,
        postgres,
        redis,
        pool_max_size=stack.connections.pool_max_size,
        redis_max_connections=stack.connections.redis_max_connections,
        role=role,
    )
    return Deployment(stack=stack, env=env, role=role)


@dataclass(frozen=True)
class Roles:
    """One stack rendered twice: the API role and the queue role (same database, role and password)."""

    api: Deployment
    queue: Deployment

    @property
    def database(self) -> str:
        return self.api.stack.config.postgres.database_name


def deploy(
    raw: dict[str, Any],
    *,
    postgres: PostgresServer,
    redis: RedisServer | RedisClusterServer,
    password: str,
    role: Role | None = None,
    create_database: bool = True,
) -> Deployment:
    """Validate ``raw``, create its database and role on ``postgres`` with ``password``, render its env."""
    stack = validate_stack(raw)
    if create_database:
        create_app_database(postgres, stack, password)
    return render(stack, postgres_facts(postgres, stack, password), redis_facts(redis), role)


def render_roles(raw: dict[str, Any], *, postgres: PostgresServer, redis: RedisServer | RedisClusterServer) -> Roles:
    """Validate ``raw``, create its database and role on ``postgres`` with a generated password, and render its env
    for the API role and for the queue role (split mode: the API and queue Deployments)."""
    password = generated_password()
    api = deploy(raw, postgres=postgres, redis=redis, password=password, role="api")  # creates the database
    queue = render(api.stack, postgres_facts(postgres, api.stack, password), redis_facts(redis), role="queue")
    return Roles(api=api, queue=queue)
