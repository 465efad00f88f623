"""The ``AgentServer`` component: budget, data stores, environment and workload of one Agent Server."""

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

import pulumi
from pydantic import SecretStr

from . import naming
from .alarms import AlarmSpec, cache_cluster_ids, postgres_alarms, redis_alarms
from .config import AlarmsConfig, PostgresConfig, RedisConfig, ServerConfig
from .env import POSTGRES_CA_PATH, PostgresFacts, RedisFacts, RenderedEnv, Role, render_env, secret_text
from .errors import ConfigError, Issue, required
from .iam_auth import allow_connect, role_name, server_role
from .inputs import SECRET_FIELDS, validate_args
from .monitoring import metric_alarms
from .postgres import Postgres, PostgresShare
from .redis import Redis, RedisClaim, RedisShare, shared
from .redis_iam import allow_connect as allow_redis_connect
from .registry import of_this_run
from .rules import check_iam, check_postgres_tls, check_redis_iam, check_server_on_redis
from .settings import (
    AlarmsSettings,
    NamingSettings,
    NetworkSettings,
    PostgresSettings,
    RedisSettings,
    ServerSettings,
)
from .sizing import RedisUser, SizingError, plan_connections, redis_budget, retry_budget

if TYPE_CHECKING:
    from .workload import DatabaseBootstrap

TYPE_TOKEN = "agent-server-infra:index:AgentServer"
ROLES: tuple[Role, ...] = ("api", "queue")


class AgentServerArgs(TypedDict, total=False):
    """Arguments of :class:`AgentServer`: the stack config's sections and secrets, with snake_case keys.

    ``existing_postgres`` / ``existing_redis`` use a store another component created instead of creating one:
    in Python the ``Postgres``/``Redis`` component itself (its prefixes and connection budget are then checked
    across every server on it before anything is created), in any language its ``share`` output (checked when
    it resolves). With a share, the ``postgres``/``redis`` settings describe the shared store for the budget.
    """

    network: NetworkSettings
    """Where the data stores live and who may reach them."""
    postgres: PostgresSettings
    """The server's Postgres (created unless ``existing_postgres`` is given)."""
    redis: RedisSettings
    """The server's Redis (created unless ``existing_redis`` is given)."""
    server: ServerSettings
    """The workload and every server variable."""
    license_key: pulumi.Input[str]
    """`LANGGRAPH_CLOUD_LICENSE_KEY` (secret)."""
    langsmith_api_key: pulumi.Input[str]
    """`LANGSMITH_API_KEY` (secret)."""
    datadog_api_key: pulumi.Input[str]
    """`DD_API_KEY` (secret)."""
    mongodb_uri: pulumi.Input[str]
    """`LS_MONGODB_URI` for the mongo checkpointer (secret)."""
    postgres_uri: pulumi.Input[str]
    """External Postgres URI (secret)."""
    redis_uri: pulumi.Input[str]
    """External Redis URI (secret)."""
    otel_headers: pulumi.Input[str]
    """`OTEL_EXPORTER_OTLP_HEADERS` (secret)."""
    # The schema Pulumi infers sees the shares (any language passes a store's ``share`` output); Python may pass
    # the component itself, which checks prefixes and the summed budget before anything is created.
    if TYPE_CHECKING:
        existing_postgres: Postgres | pulumi.Input[PostgresShare]
        existing_redis: Redis | pulumi.Input[RedisShare]
    else:
        existing_postgres: pulumi.Input[PostgresShare]
        existing_redis: pulumi.Input[RedisShare]
    alarms: AlarmsSettings
    """CloudWatch alarms on the stores this server creates (none when absent)."""
    naming: NamingSettings
    """Pinned physical names: ``naming.name`` is the stem of every physical name (the stores get
    ``<name>-postgres`` and ``<name>-redis``), kept through a stack rename or a move of the component."""
    tags: Mapping[str, pulumi.Input[str]]
    """Tags of every AWS resource."""


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


def _claim_issues(claim: RedisClaim, others: Sequence[RedisClaim], redis: RedisConfig) -> list[Issue]:
    databases_isolate = redis.mode == "single"
    return [Issue("server.redisKeyPrefix", f"{claim.name} {reason}") for other in others
            if (reason := prefix_conflict(claim, other, databases_isolate))]


def _kubernetes_provider(opts: pulumi.ResourceOptions | None) -> str:
    """Which cluster a server's workload goes to: the ``kubernetes`` provider passed down, or the default."""
    providers: Any = getattr(opts, "providers", None) or {}
    if isinstance(providers, Mapping):
        provider = providers.get("kubernetes")
    else:
        provider = next((p for p in providers if getattr(p, "package", None) == "kubernetes"), None)
    provider = provider or getattr(opts, "provider", None)
    return "default" if provider is None else f"provider {id(provider)}"


class AgentServer(pulumi.ComponentResource):
    """One Agent Server: sizes its pools, provisions (or joins) Postgres and Redis, renders its environment and
    runs it on Kubernetes — or, with ``deploymentModel: control-plane``, exports the secret env bundle for a
    LangSmith-managed deployment instead of creating a workload.

    Several servers can share one :class:`Redis`: each registers a claim on it, prefixes must not collide and the
    Redis budget is summed over all of them; two servers never share a Kubernetes namespace. Everything is checked
    before the first child is created.

    With ``alarms``, the first server on a store creates its CloudWatch alarms (:mod:`agent_server_infra.alarms`),
    thresholds from the budgets of every server on it. With ``server.oidcProviderArn`` and no role, it creates the
    server's IRSA role; with ``postgres.iamAuthentication``, it attaches ``rds-db:connect`` for ``iamUsername`` to
    that role and has the Workload run the bootstrap Job (:mod:`agent_server_infra.bootstrap`) before both roles;
    on a Redis with ``iamAuthentication`` (its own, or a shared Redis component), it attaches ``elasticache:Connect``
    as the Redis's IAM user to that role (:mod:`agent_server_infra.redis_iam`).
    """

    budget: dict[str, Any]
    """The connection budgets (inputs, formula, usage) of Postgres and Redis, and (standalone) the attempts a run
    needs to outlast a queue rollout against `BG_JOB_MAX_RETRIES` (`retries`)."""
    plain_env: dict[str, dict[str, str]]
    """The plain environment per role."""
    secret_env: pulumi.Output[dict[str, str]]
    """The secret environment (URIs, keys; secret)."""
    secret_env_names: list[str]
    """The names of the secret variables."""
    service_name: pulumi.Output[str] | None
    """The API's Service (standalone)."""
    url: pulumi.Output[str] | None
    """In-cluster URL of the API, mount prefix included (standalone)."""
    env_bundle: pulumi.Output[dict[str, str]] | None
    """Every variable for a LangSmith control plane (control-plane model; secret)."""
    postgres_share: pulumi.Output[PostgresShare] | None
    """The Postgres this server created, to share with another server (``existing_postgres``)."""
    redis_share: pulumi.Output[RedisShare] | None
    """The Redis this server created, to share with another server (``existing_redis``)."""
    alarms: pulumi.Output[list[dict[str, Any]]]
    """The CloudWatch alarms on the stores this server created: metric, threshold and its formula."""

    def __init__(self, name: str, args: AgentServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        source = f"AgentServer {name}"
        existing_postgres, existing_redis = args.get("existing_postgres"), args.get("existing_redis")
        own_postgres, own_redis = existing_postgres is None, existing_redis is None
        scope = ["network", "server", "secrets", "alarms", "naming", *(["postgres"] if own_postgres else []),
                 *(["redis"] if own_redis else [])]
        sections: dict[str, Any] = {key: args.get(key) for key in ("network", "postgres", "redis", "server",
                                                                   "alarms", "naming")}
        if isinstance(existing_postgres, Postgres):
            sections["postgres"] = None
        if isinstance(existing_redis, Redis):
            sections["redis"] = None
        secrets = {key: args.get(key) for key in SECRET_FIELDS}
        validated = validate_args(sections, secrets, source=source, sections=scope)
        config = validated.config
        server = config.server
        postgres_config = existing_postgres.config if isinstance(existing_postgres, Postgres) else config.postgres
        redis_config = existing_redis.config if isinstance(existing_redis, Redis) else config.redis
        claims = existing_redis.claims if isinstance(existing_redis, Redis) else []
        with _sizing_errors(name, source):
            self.connections = plan_connections(server, postgres=postgres_config, redis=redis_config, name=name,
                                                redis_others=[claim.user for claim in claims])
            self.retries = retry_budget(server)
        claim = RedisClaim(name=name, prefix=server.redis_key_prefix, database=server.redis_database,
                           user=self.connections.redis_user())
        conflicts = _claim_issues(claim, claims, redis_config)
        if isinstance(existing_redis, Redis):
            conflicts += check_server_on_redis(server, redis_config)
            conflicts += check_redis_iam(redis_config, server)
        elif existing_redis is not None and redis_config.iam_authentication:
            conflicts.append(Issue("redis.iamAuthentication", "needs the Redis itself (this server's, or the Redis "
                                   "component passed as existing_redis): a share carries no replication group to "
                                   "grant elasticache:Connect on"))
        if isinstance(existing_postgres, Postgres):
            conflicts += check_iam(postgres_config, server)
        elif existing_postgres is not None and postgres_config.iam_authentication:
            conflicts.append(Issue("postgres.iamAuthentication", "needs the Postgres itself (this server's, or the "
                                   "Postgres component passed as existing_postgres): a share carries no instance "
                                   "to grant rds-db:connect on"))
        if existing_postgres is not None:
            conflicts += check_postgres_tls(postgres_config, server)
        namespaces = of_this_run("namespaces")
        namespace_key = (_kubernetes_provider(opts), server.namespace)
        if server.deployment_model == "standalone" and (other := namespaces.get(namespace_key)) is not None:
            conflicts.append(Issue("server.namespace", f"{name} uses the Kubernetes namespace {server.namespace!r} "
                                   f"of {other}: give each server a namespace of its own"))
        if conflicts:
            raise ConfigError(conflicts, source)

        super().__init__(TYPE_TOKEN, name, None, opts)
        self.name = name
        if server.deployment_model == "standalone":
            namespaces[namespace_key] = name
        tags = {"app.kubernetes.io/part-of": "agent-server", "agent-server/instance": name,
                **dict(args.get("tags") or {})}
        child = pulumi.ResourceOptions(parent=self)
        self.stem = config.naming.name if config.naming is not None else None
        """The pinned stem of every physical name (``naming.name``), if any."""
        self.postgres: Postgres | None = existing_postgres if isinstance(existing_postgres, Postgres) else (
            Postgres._validated(f"{name}-postgres", config.postgres, config.network,
                                validated.secrets.get("postgres_uri"), tags, child, self._stem("postgres"))
            if own_postgres else None)
        self.redis: Redis | None = existing_redis if isinstance(existing_redis, Redis) else (
            Redis._validated(f"{name}-redis", config.redis, config.network, validated.secrets.get("redis_uri"), tags,
                             child, self._stem("redis")) if own_redis else None)
        if self.redis is not None:
            self.redis.claims.append(claim)
        if self.postgres is not None:
            self.postgres.planned.append(self.connections.postgres)
        postgres_facts = self.postgres.server_facts() if self.postgres is not None else _postgres_share_facts(
            existing_postgres)
        redis_facts = self.redis.facts() if self.redis is not None else _redis_share_facts(
            existing_redis, claim, redis_config, source)
        self.postgres_share = self.postgres.share if own_postgres and self.postgres is not None else None
        self.redis_share = self.redis.share if own_redis and self.redis is not None else None

        self.budget = {"postgres": self.connections.postgres.as_dict(), "redis": self.connections.redis.as_dict()}
        if self.retries is not None:
            self.budget["retries"] = self.retries.as_dict()
        self.alarms = self._alarms(config.alarms, tags)
        pools = {"pool_max_size": self.connections.pool_max_size,
                 "redis_max_connections": self.connections.redis_max_connections}
        # Plain variables never depend on where the stores are, only on config and the cluster flag, so they are
        # rendered now (known at preview, readable in the plan); URIs and keys come from the stores' outputs.
        shape = (PostgresFacts(iam=postgres_config.iam_authentication),
                 RedisFacts(cluster=redis_config.is_cluster, user="" if redis_config.iam_authentication else None))
        roles: tuple[Role, ...] = ROLES if server.deployment_model == "standalone" else ("control-plane",)
        by_role = {role: render_env(server, config.secrets, *shape, role=role, **pools) for role in roles}
        self.plain_env = {role: rendered.plain for role, rendered in by_role.items()}
        self.secret_env_names = sorted(by_role[roles[0]].secret)

        secret_names = sorted(validated.secrets)
        extra_names = sorted(server.extra_secret_env)
        if postgres_config.ca_bundle is not None:
            postgres_facts = pulumi.Output.from_input(postgres_facts).apply(
                lambda facts: dataclasses.replace(facts, root_cert=POSTGRES_CA_PATH))

        def secret_part(values: list[Any]) -> dict[str, str]:
            secret_values, extra_values = values[2:2 + len(secret_names)], values[2 + len(secret_names):]
            resolved = config.secrets.model_copy(update={
                field: _secret(value) for field, value in zip(secret_names, secret_values, strict=True)})
            extra = dict(zip(extra_names, extra_values, strict=True))
            rendered: RenderedEnv = render_env(server.model_copy(update={"extra_secret_env": extra}), resolved,
                                               values[0], values[1], role=roles[0], **pools)
            return rendered.secret

        self.secret_env = pulumi.Output.secret(pulumi.Output.all(
            postgres_facts, redis_facts, *(validated.secrets[field] for field in secret_names),
            *(_secret_input(server.extra_secret_env[name]) for name in extra_names)).apply(secret_part))
        self.service_name = self.url = self.env_bundle = None
        if server.deployment_model == "standalone":
            from .workload import Workload

            workload_server, bootstrap_env = self._database_identity(name, server, postgres_config, tags)
            workload = Workload._validated(f"{name}-workload", workload_server, self.plain_env, self.secret_env,
                                           {"agent-server/instance": naming.label_value(name)},
                                           (_store_port(postgres_config.port, postgres_config.mode == "external",
                                                        args.get("postgres_uri"), 5432),
                                            _store_port(redis_config.port, redis_config.mode == "external",
                                                        args.get("redis_uri"), 6379)), child, bootstrap_env,
                                           postgres_config.ca_bundle)
            self.service_name, self.url = workload.service_name, workload.url
        else:
            plain = self.plain_env["control-plane"]
            self.env_bundle = pulumi.Output.secret(self.secret_env.apply(lambda secret: {**plain, **secret}))
        self.register_outputs({
            "budget": self.budget, "plain_env": self.plain_env, "secret_env": self.secret_env,
            "secret_env_names": self.secret_env_names, "service_name": self.service_name, "url": self.url,
            "env_bundle": self.env_bundle, "postgres_share": self.postgres_share, "redis_share": self.redis_share,
            "alarms": self.alarms, "stores": self._stores(),
        })

    def _stores(self) -> dict[str, pulumi.Output[str]]:
        """The URNs of the Postgres and Redis components this server uses (its own or shared): what ``diff`` sums
        the budgets of one store over."""
        return {kind: store.urn for kind, store in (("postgres", self.postgres), ("redis", self.redis))
                if store is not None}

    def _stem(self, child: str) -> str | None:
        """The pinned physical stem of a child store (``<naming.name>-postgres``), or ``None`` (derived)."""
        return f"{self.stem}-{child}" if self.stem else None

    def _database_identity(self, name: str, server: ServerConfig, postgres: PostgresConfig, tags: Mapping[str, Any],
                           ) -> tuple[ServerConfig, "DatabaseBootstrap | None"]:
        """The server's IRSA role (created from ``oidcProviderArn`` when no role is given) and, with IAM
        authentication, its ``rds-db:connect`` policy and the bootstrap Job's environment."""
        from .workload import DatabaseBootstrap, object_name

        given: pulumi.Input[str] | None = server.service_account_role_arn
        role: pulumi.Input[str] | None = pulumi.Output.from_input(given).apply(role_name) if given else None
        if given is None and server.oidc_provider_arn is not None:
            created = server_role(name, server.oidc_provider_arn, server.namespace, object_name(f"{name}-workload"),
                                  parent=self, tags=tags, stem=self.stem)
            role = created.name
            server = server.model_copy(update={"service_account_role_arn": created.arn})
        redis = self.redis
        if redis is not None and redis.iam_user is not None and redis.replication_group is not None:
            allow_redis_connect(name, required(role, "server.serviceAccountRoleArn", "required with "
                                               "redis.iamAuthentication (or server.oidcProviderArn to create the "
                                               "role)", f"AgentServer {name}"),
                                redis.replication_group, redis.iam_user, parent=self)
        store = self.postgres
        if not postgres.iam_authentication or store is None or store.instance is None:
            return server, None
        allow_connect(name, required(role, "server.serviceAccountRoleArn", "required with postgres.iamAuthentication "
                                     "(or server.oidcProviderArn to create the role)", f"AgentServer {name}"),
                      store.instance, postgres.iam_username, parent=self)
        return server, DatabaseBootstrap(master_uri=store.uri, iam_username=postgres.iam_username)

    def _alarms(self, alarms: AlarmsConfig | None, tags: Mapping[str, Any]) -> pulumi.Output[list[dict[str, Any]]]:
        """The alarms of the stores this server uses as components (the first server with alarms on a shared
        store creates them; a store given as a share is its owner's to watch), and what they are: per store the
        metric, the threshold and how it was reached."""
        if alarms is None or not alarms.enabled:
            return pulumi.Output.from_input([])
        rows: list[pulumi.Output[list[dict[str, Any]]]] = []
        postgres, redis = self.postgres, self.redis
        if postgres is not None and postgres.config.mode == "rds" and not postgres.alarmed:
            postgres.alarmed = True
            settled = metric_alarms(
                postgres.name, {"": {"DBInstanceIdentifier": postgres.identifier}},
                lambda store=postgres: postgres_alarms(alarms, store.config, store.planned), alarms,
                parent=postgres, tags=tags)
            rows.append(_described(settled, "postgres", 1))
        if redis is not None and redis.config.mode != "external" and not redis.alarmed:
            redis.alarmed = True
            nodes = cache_cluster_ids(redis.group_id, redis.config)
            settled = metric_alarms(
                redis.name, {node.removeprefix(redis.group_id + "-"): {"CacheClusterId": redis.member(index, node)}
                             for index, node in enumerate(nodes)},
                lambda store=redis: redis_alarms(alarms, store.config, store.combined_budget()), alarms,
                parent=redis, tags=tags)
            rows.append(_described(settled, "redis", len(nodes)))
        return pulumi.Output.all(*rows).apply(lambda parts: [row for part in parts for row in part])


@contextlib.contextmanager
def _sizing_errors(name: str, source: str) -> Iterator[None]:
    """A sizing rule the server breaks (its pools, its retries) as the config error of this server."""
    try:
        yield
    except SizingError as exc:
        raise ConfigError([Issue(exc.path, f"{name}: {exc.message}")], source) from None


def _described(specs: pulumi.Output[Sequence[AlarmSpec]], store: str, targets: int,
               ) -> pulumi.Output[list[dict[str, Any]]]:
    """A store's alarms as the plan shows them: per spec the metric, the threshold and its formula."""
    return specs.apply(lambda items: [{"store": store, "targets": targets, **spec.as_dict()} for spec in items])


def _store_port(configured: int, external: bool, uri: Any, default: int) -> int:
    """The port the server reaches a store on, for its egress NetworkPolicy: the configured one, or an external
    store's URI port when the URI is plain text (an Output URI: the engine's default port)."""
    if not external:
        return configured
    return (urlsplit(uri).port or default) if isinstance(uri, str) else default


def _secret(value: Any) -> SecretStr | None:
    return None if value is None else SecretStr(str(value))


def _secret_input(value: Any) -> pulumi.Output[str]:
    """An ``extraSecretEnv`` value (plain, checked in config as a ``SecretStr``, or an Output) as a secret Output."""
    return pulumi.Output.secret(secret_text(value))


def _postgres_share_facts(share: Any) -> pulumi.Output[PostgresFacts]:
    """What ``render_env`` needs of a Postgres given as its ``share`` (from any language)."""
    return pulumi.Output.secret(pulumi.Output.from_input(share).apply(lambda s: PostgresFacts(
        host=s["address"], port=int(s["port"]), database=s["database"], user=s["username"],
        password=s["password"])))


def _redis_share_facts(share: Any, claim: RedisClaim, redis: RedisConfig, source: str) -> pulumi.Output[RedisFacts]:
    """What ``render_env`` needs of a Redis given as its ``share``; once it resolves, the server's claim is
    registered on the Redis component of this program it names (prefixes checked, budget summed)."""

    def facts(s: Mapping[str, Any]) -> RedisFacts:
        store = shared(str(s["name"]))
        if store is not None:
            issues = _claim_issues(claim, store.claims, store.config)
            users: list[RedisUser] = [other.user for other in store.claims] + [claim.user]
            try:
                redis_budget(max_clients=store.max_clients, users=users, cluster=store.cluster)
            except SizingError as exc:
                issues.append(Issue(exc.path, f"{claim.name}: {exc.message}"))
            if issues:
                raise ConfigError(issues, source)
            store.claims.append(claim)
        if bool(s["cluster"]) != redis.is_cluster:
            raise ConfigError([Issue("redis.mode", f"describes {'a cluster' if redis.is_cluster else 'no cluster'} "
                                     f"but the shared Redis {s['name']} is {'' if s['cluster'] else 'not '}one")],
                              source)
        if s.get("iam_user"):
            raise ConfigError([Issue("redis.iamAuthentication", f"the shared Redis {s['name']} uses IAM "
                                     "authentication: pass the Redis component as existing_redis (it grants "
                                     "elasticache:Connect), not its share")], source)
        if "uri" in s:
            return RedisFacts(uri=str(s["uri"]), cluster=bool(s["cluster"]))
        return RedisFacts(host=str(s["endpoint"]), port=int(s["port"]), token=str(s["token"]), tls=bool(s["tls"]),
                          cluster=bool(s["cluster"]))

    return pulumi.Output.secret(pulumi.Output.from_input(share).apply(facts))
