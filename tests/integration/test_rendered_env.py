"""The URIs ``render_env`` builds work with the real drivers against real servers.

Each test validates a stack config, takes the local servers' address and port as the data-store facts and renders
the environment with the library's own ``render_env`` (see :mod:`.deployments`); the drivers then get exactly the
rendered strings: ``psycopg.connect(DATABASE_URI)``, ``redis.Redis.from_url(REDIS_URI)``,
``RedisCluster.from_url(REDIS_URI)``. Secrets are hostile (``@:/?#[]%``, space, quotes, non-ASCII): a URI builder
that does not percent-encode them fails here.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import redis
from redis.cluster import RedisCluster

from agent_server_infra.env import DeploymentModel

from .deployments import Deployment, RedisMode, deploy, generated_password, raw_stack
from .servers import HOSTILE_SECRET, PostgresServer, RedisClusterServer, RedisServer, hostile_secret

MODELS: tuple[DeploymentModel, ...] = ("standalone", "control-plane")
REDIS_VARIANTS = ("plain", "tls")


def _redis_kwargs(server: RedisServer | RedisClusterServer) -> dict[str, Any]:
    """What a real client adds to a ``rediss://`` URI: the CA that signed the server certificate."""
    if not server.tls:
        return {}
    return {"ssl_ca_certs": str(server.ca_cert), "ssl_cert_reqs": "required"}


@contextmanager
def _client(deployment: Deployment, server: RedisServer | RedisClusterServer) -> Iterator[redis.Redis | RedisCluster]:
    """The client the rendered env asks for: ``REDIS_CLUSTER=true`` means a cluster client."""
    kwargs = {**_redis_kwargs(server), "socket_timeout": 5, "socket_connect_timeout": 5}
    client: redis.Redis | RedisCluster
    if deployment.env.plain["REDIS_CLUSTER"] == "true":
        client = RedisCluster.from_url(deployment.redis_uri, **kwargs)
    else:
        client = redis.Redis.from_url(deployment.redis_uri, **kwargs)
    try:
        yield client
    finally:
        client.close()


# --- Postgres -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("password", [HOSTILE_SECRET, "generated"], ids=["hostile", "generated"])
def test_postgres_uri_connects(
    postgres: PostgresServer, redis_server: RedisServer, model: DeploymentModel, password: str
) -> None:
    """DATABASE_URI (standalone) / POSTGRES_URI_CUSTOM (control plane) log the app role in over TLS."""
    password = generated_password() if password == "generated" else password + secrets.token_urlsafe(6)
    deployment = deploy(raw_stack(model=model), postgres=postgres, redis=redis_server, password=password)
    config = deployment.stack.config.postgres
    other = "POSTGRES_URI_CUSTOM" if model == "standalone" else "DATABASE_URI"
    assert other not in deployment.env.secret
    assert not {"DATABASE_URI", "POSTGRES_URI_CUSTOM"} & set(deployment.env.plain)  # never in a ConfigMap

    uri = deployment.postgres_uri
    assert uri.startswith("postgresql://")
    assert uri.endswith("?sslmode=require")
    # libpq parses the URI itself: sslmode=require against a server whose pg_hba.conf rejects every non-TLS
    # connection, scram-sha-256 with the decoded password.
    with psycopg.connect(uri, connect_timeout=10) as conn:
        assert conn.info.pgconn.ssl_in_use
        assert conn.info.password == password
        assert conn.execute("SELECT current_user, current_database(), ssl FROM pg_stat_ssl "
                            "WHERE pid = pg_backend_pid()").fetchone() == (config.username, config.database_name, True)
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        conn.execute("CREATE TABLE probe (x int)")  # the role owns its database, as the RDS master user does

    wrong = deploy(raw_stack(model=model, postgres={"databaseName": config.database_name,
                                                   "username": config.username}),
                   postgres=postgres, redis=redis_server, password=password + "x", create_database=False)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong.postgres_uri, connect_timeout=10).close()


# --- Redis ----------------------------------------------------------------------------------------------------


@pytest.fixture(params=REDIS_VARIANTS)
def redis_single(request: pytest.FixtureRequest) -> RedisServer:
    name = "redis_server" if request.param == "plain" else "redis_tls_server"
    server: RedisServer = request.getfixturevalue(name)
    return server


@pytest.fixture(params=REDIS_VARIANTS)
def redis_cluster_any(request: pytest.FixtureRequest) -> RedisClusterServer:
    name = "redis_cluster" if request.param == "plain" else "redis_tls_cluster"
    server: RedisClusterServer = request.getfixturevalue(name)
    return server


@pytest.mark.parametrize("model", MODELS)
def test_redis_single_uri(postgres: PostgresServer, redis_single: RedisServer, model: DeploymentModel) -> None:
    """REDIS_URI(_CUSTOM) authenticates with the hostile token, over TLS for ``rediss://``, in database /N."""
    database = 5
    prefix = f"it-single-{secrets.token_hex(3)}:"
    deployment = deploy(raw_stack(model=model, prefix=prefix, database=database), postgres=postgres,
                        redis=redis_single, password=generated_password(), create_database=False)
    assert deployment.env.plain["REDIS_CLUSTER"] == "false"
    assert deployment.prefix == prefix
    assert deployment.redis_uri.startswith("rediss://" if redis_single.tls else "redis://")
    assert deployment.redis_uri.endswith(f"/{database}")
    assert any(ch in redis_single.password for ch in "@:/?#% ")  # the fixture's token really is hostile

    key = f"{prefix}probe"
    with _client(deployment, redis_single) as client:
        assert isinstance(client, redis.Redis)
        assert client.ping() is True
        info: Any = client.client_info()
        assert int(info["db"]) == database
        assert client.set(key, "value") is True
        assert client.get(key) == b"value"
    # Seen from outside (keyword arguments, no URI): the key is in database N and nowhere else.
    direct = redis_single.client(db=database)
    default = redis_single.client(db=0)
    try:
        assert direct.get(key) == b"value"
        assert default.get(key) is None
        direct.delete(key)
    finally:
        direct.close()
        default.close()


@pytest.mark.parametrize("model", MODELS)
def test_redis_cluster_uri(
    postgres: PostgresServer, redis_cluster_any: RedisClusterServer, model: DeploymentModel
) -> None:
    """REDIS_CLUSTER=true and a cluster client on the rendered URI reach all three masters with the token."""
    prefix = f"it-cluster-{secrets.token_hex(3)}:"
    deployment = deploy(raw_stack(model=model, redis_mode="cluster", prefix=prefix), postgres=postgres,
                        redis=redis_cluster_any, password=generated_password(), create_database=False)
    assert deployment.env.plain["REDIS_CLUSTER"] == "true"
    assert deployment.redis_uri.startswith("rediss://" if redis_cluster_any.tls else "redis://")
    assert deployment.redis_uri.endswith(f":{redis_cluster_any.port}")  # cluster mode: no database path

    keys = [f"{prefix}{i}" for i in range(30)]
    with _client(deployment, redis_cluster_any) as client:
        assert isinstance(client, RedisCluster)
        nodes = {getattr(client.get_node_from_key(key), "port", None) for key in keys}
        assert nodes == set(redis_cluster_any.ports)  # the prefixed keys land on all three masters
        for key in keys:
            assert client.set(key, key.upper())
        assert [client.get(key) for key in keys] == [key.upper().encode() for key in keys]
        assert sorted(k.decode() for k in client.scan_iter(match=f"{prefix}*")) == sorted(keys)
        client.delete(*keys)


@pytest.mark.parametrize("mode", ["single", "cluster"])
def test_key_prefixes_isolate_deployments(
    postgres: PostgresServer,
    redis_server: RedisServer,
    redis_cluster: RedisClusterServer,
    mode: RedisMode,
) -> None:
    """Two deployments on one Redis (same database) with distinct REDIS_KEY_PREFIX don't see each other's keys."""
    server: RedisServer | RedisClusterServer = redis_server if mode == "single" else redis_cluster
    tag = secrets.token_hex(3)
    a, b = (
        deploy(raw_stack(redis_mode=mode, prefix=f"it-{tag}-{team}:", database=0), postgres=postgres,
               redis=server, password=generated_password(), create_database=False)
        for team in ("a", "b")
    )
    assert a.prefix != b.prefix
    assert a.redis_uri == b.redis_uri

    written: dict[str, set[str]] = {}
    with _client(a, server) as client_a, _client(b, server) as client_b:
        for deployment, client in ((a, client_a), (b, client_b)):
            keys = {f"{deployment.prefix}thread:{i}" for i in range(20)}
            for key in keys:
                client.set(key, deployment.prefix)
            written[deployment.prefix] = keys
        try:
            for deployment, client in ((a, client_a), (b, client_b)):
                seen = {key.decode() for key in client.scan_iter(match=f"{deployment.prefix}*", count=100)}
                assert seen == written[deployment.prefix]
            assert not written[a.prefix] & written[b.prefix]
        finally:
            client_a.delete(*written[a.prefix])
            client_b.delete(*written[b.prefix])


def test_hostile_secret_needs_encoding() -> None:
    """Guard for the tests above: the fixtures' secrets contain what a URI must encode (and are fresh)."""
    token = hostile_secret()
    assert token.startswith(HOSTILE_SECRET)
    assert token != hostile_secret()
    assert {"@", ":", "/", "?", "#", "%", " "} <= set(token)
    assert any(ord(ch) > 127 for ch in token)
