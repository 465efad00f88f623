"""The ``AgentServer`` component: budget, data stores, environment and workload of one Agent Server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi

from . import naming
from .config import StackConfig
from .env import PostgresFacts, RedisFacts, RenderedEnv, Role, render_env
from .errors import ConfigError, Issue
from .postgres import Postgres
from .redis import Redis, RedisClaim
from .sizing import ConnectionPlan, SizingError, plan_connections

ROLES: tuple[Role, ...] = ("api", "queue")


class AgentServerArgs(TypedDict):
    """Arguments of :class:`AgentServer`. Pass ``postgres``/``redis`` to use existing stores (a shared Redis)."""

    config: StackConfig
    postgres: NotRequired[Postgres]
    redis: NotRequired[Redis]
    tags: NotRequired[Mapping[str, str]]


def prefix_conflict(mine: RedisClaim, other: RedisClaim, databases_isolate: bool) -> str | None:
    """Why two deployments on one Redis would see each other's keys, or ``None`` when they are isolated.

    Isolated means distinct database numbers where those select the database (``databases_isolate``: a Redis
    of single mode; a cluster has only database 0 and an external Redis uses the database of its URI), or
    prefixes that are both non-empty and neither a prefix of the other.
    """
    if databases_isolate and mine.database != other.database:
        return None
    a, b = mine.prefix, other.prefix
    if a == b:
        return f"has the same redisKeyPrefix {a!r} as {other.name}"
    if not a or not b:
        return f"shares the Redis with {other.name} but one of them has an empty redisKeyPrefix"
    if a.startswith(b) or b.startswith(a):
        return f"redisKeyPrefix {a!r} and {other.name}'s {b!r} overlap (one is a prefix of the other)"
    return None


class AgentServer(pulumi.ComponentResource):
    """One Agent Server: sizes its pools, provisions (or joins) Postgres and Redis, renders its environment and
    runs it on Kubernetes — or, with ``deploymentModel: control-plane``, exports the secret env bundle for a
    LangSmith-managed deployment instead of creating a workload.

    Several servers can share one :class:`Redis`: each registers a claim on it, prefixes must not collide and the
    Redis budget is summed over all of them. Everything is checked before the first child is created.
    """

    connections: ConnectionPlan
    budget: dict[str, Any]
    plain_env: dict[str, dict[str, str]]
    secret_env: pulumi.Output[dict[str, str]]
    service_name: pulumi.Output[str] | None
    url: pulumi.Output[str] | None
    env_bundle: pulumi.Output[dict[str, str]] | None
    secret_env_names: list[str]
    postgres: Postgres
    redis: Redis

    def __init__(self, name: str, args: AgentServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        config = args["config"]
        server = config.server
        shared_redis = args.get("redis")
        claims = shared_redis.claims if shared_redis is not None else []
        redis_config = shared_redis.config if shared_redis is not None else config.redis
        try:
            self.connections = plan_connections(
                server, postgres=args["postgres"].config if "postgres" in args else config.postgres,
                redis=redis_config, name=name, redis_others=[claim.user for claim in claims],
            )
        except SizingError as exc:
            raise ConfigError([Issue(exc.path, f"{name}: {exc.message}")]) from None
        claim = RedisClaim(name=name, prefix=server.redis_key_prefix, database=server.redis_database,
                           user=self.connections.redis_user())
        databases_isolate = redis_config.mode == "single"
        conflicts = [reason for other in claims if (reason := prefix_conflict(claim, other, databases_isolate))]
        if conflicts:
            raise ConfigError([Issue("server.redisKeyPrefix", f"{name} {reason}") for reason in conflicts])

        super().__init__("agent-server-infra:index:AgentServer", name, None, opts)
        tags = {"app.kubernetes.io/part-of": "agent-server", "agent-server/instance": name,
                **dict(args.get("tags") or {})}
        postgres = args.get("postgres") or Postgres(
            f"{name}-postgres", {"config": config.postgres, "network": config.network, "secrets": config.secrets,
                                 "tags": tags}, pulumi.ResourceOptions(parent=self))
        redis = shared_redis or Redis(
            f"{name}-redis", {"config": config.redis, "network": config.network, "secrets": config.secrets,
                              "tags": tags}, pulumi.ResourceOptions(parent=self))
        redis.claims.append(claim)

        self.budget = {"postgres": self.connections.postgres.as_dict(), "redis": self.connections.redis.as_dict()}
        pools = {"pool_max_size": self.connections.pool_max_size,
                 "redis_max_connections": self.connections.redis_max_connections}
        # Plain variables never depend on where the stores are, only on config and the cluster flag, so they are
        # rendered now (known at preview, readable in the plan); URIs and keys come from the stores' outputs.
        shape = (PostgresFacts(), RedisFacts(cluster=redis.cluster))
        roles: tuple[Role, ...] = ROLES if server.deployment_model == "standalone" else ("control-plane",)
        by_role = {role: render_env(server, config.secrets, *shape, role=role, **pools) for role in roles}
        self.plain_env = {role: rendered.plain for role, rendered in by_role.items()}
        self.secret_env_names = sorted(by_role[roles[0]].secret)

        def secret_part(facts: list[Any]) -> dict[str, str]:
            rendered: RenderedEnv = render_env(server, config.secrets, facts[0], facts[1], role=roles[0], **pools)
            return rendered.secret

        self.secret_env = pulumi.Output.secret(pulumi.Output.all(postgres.facts(), redis.facts()).apply(secret_part))
        self.postgres, self.redis = postgres, redis
        self.service_name = self.url = self.env_bundle = None
        if server.deployment_model == "standalone":
            from .workload import Workload

            workload = Workload(f"{name}-workload", {
                "server": server, "env": self.plain_env, "secret_env": self.secret_env,
                "labels": {"agent-server/instance": naming.label_value(name)},
            }, pulumi.ResourceOptions(parent=self))
            self.service_name, self.url = workload.service_name, workload.url
        else:
            plain = self.plain_env["control-plane"]
            self.env_bundle = pulumi.Output.secret(self.secret_env.apply(lambda secret: {**plain, **secret}))
        self.register_outputs({
            "budget": self.budget, "plain_env": self.plain_env, "secret_env": self.secret_env,
            "secret_env_names": self.secret_env_names, "service_name": self.service_name, "url": self.url,
            "env_bundle": self.env_bundle,
        })
