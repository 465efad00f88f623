"""Smoke tests proving the data-store fixtures work with the real drivers."""

from __future__ import annotations

import psycopg
import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from .servers import PostgresFactory, RedisClusterServer, RedisServer, no_retry

HOSTILE_PASSWORD = "p@ss:/?#% wörd"
MAX_CONNECTIONS = 23


def test_postgres_tls_scram_and_max_connections(postgres_server: PostgresFactory) -> None:
    server = postgres_server(max_connections=MAX_CONNECTIONS)
    assert server.host == "127.0.0.1"
    assert server.max_connections == MAX_CONNECTIONS
    assert server.superuser_reserved_connections == 3
    assert server.non_superuser_connections == MAX_CONNECTIONS - 3
    assert postgres_server(max_connections=MAX_CONNECTIONS) is server  # cached per configuration

    db = server.create_database("smoke db", 'smoke-user "quoted"', HOSTILE_PASSWORD)
    # keyword args, not a URI: URI building is tested elsewhere
    with psycopg.connect(
        host=db.host,
        port=db.port,
        dbname=db.dbname,
        user=db.user,
        password=HOSTILE_PASSWORD,
        sslmode="require",
        connect_timeout=5,
    ) as conn:
        assert conn.info.pgconn.ssl_in_use
        rows = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("ssl", "max_connections", "superuser_reserved_connections", "password_encryption")
        }
        assert rows["ssl"] == ("on",)
        assert rows["max_connections"] == (str(MAX_CONNECTIONS),)
        assert rows["superuser_reserved_connections"] == ("3",)
        assert rows["password_encryption"] == ("scram-sha-256",)
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (db.user, db.dbname)
        conn.execute("CREATE TABLE t (x int)")  # owner of the database can create in public

    # the certificate really chains to the fixture CA and matches 127.0.0.1
    with psycopg.connect(**db.connect_kwargs(sslmode="verify-full")) as conn:
        assert conn.execute("SHOW ssl").fetchone() == ("on",)


def test_postgres_rejects_plaintext_and_bad_password(postgres_server: PostgresFactory) -> None:
    server = postgres_server(max_connections=MAX_CONNECTIONS)
    creds = server.superuser_database
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(**creds.connect_kwargs(sslmode="disable"))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**creds.connect_kwargs(password=creds.password + "x"))


def test_redis_password(redis_server: RedisServer) -> None:
    assert not redis_server.tls
    client = redis.Redis(host=redis_server.host, port=redis_server.port, password=redis_server.password)
    try:
        assert client.ping() is True
    finally:
        client.close()
    anonymous = redis.Redis(host=redis_server.host, port=redis_server.port, retry=no_retry())
    try:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    finally:
        anonymous.close()


def test_redis_tls(redis_tls_server: RedisServer) -> None:
    assert redis_tls_server.tls
    assert redis_tls_server.ca_cert is not None
    verified = redis.Redis(
        host=redis_tls_server.host,
        port=redis_tls_server.port,
        password=redis_tls_server.password,
        ssl=True,
        ssl_ca_certs=str(redis_tls_server.ca_cert),
    )
    unverified = redis.Redis(
        host=redis_tls_server.host,
        port=redis_tls_server.port,
        password=redis_tls_server.password,
        ssl=True,
        ssl_cert_reqs="none",
    )
    plaintext = redis.Redis(
        host=redis_tls_server.host,
        port=redis_tls_server.port,
        password=redis_tls_server.password,
        socket_timeout=2,
        retry=no_retry(),
    )
    try:
        assert verified.ping() is True
        assert unverified.ping() is True
        with pytest.raises(redis.ConnectionError):
            plaintext.ping()
    finally:
        for client in (verified, unverified, plaintext):
            client.close()


def _exercise_cluster(client: RedisCluster) -> None:
    try:
        keys = [f"smoke:{i}" for i in range(30)]
        slots = {key_slot(key.encode()) for key in keys}
        nodes = {getattr(client.get_node_from_key(key), "name", None) for key in keys}
        assert len(slots) > 1
        assert len(nodes) == 3, nodes  # the keys land on all three masters
        for key in keys:
            assert client.set(key, key.upper())
        for key in keys:
            assert client.get(key) == key.upper().encode()
    finally:
        client.close()


def test_redis_cluster_cross_slot(redis_cluster: RedisClusterServer) -> None:
    assert len(redis_cluster.ports) == 3
    assert not redis_cluster.tls
    _exercise_cluster(RedisCluster(host=redis_cluster.host, port=redis_cluster.port, password=redis_cluster.password))


def test_redis_tls_cluster_cross_slot(redis_tls_cluster: RedisClusterServer) -> None:
    assert redis_tls_cluster.tls
    _exercise_cluster(
        RedisCluster(
            host=redis_tls_cluster.host,
            port=redis_tls_cluster.port,
            password=redis_tls_cluster.password,
            ssl=True,
            ssl_ca_certs=str(redis_tls_cluster.ca_cert),
        )
    )
