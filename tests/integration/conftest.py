"""Fixtures that start real, throwaway data stores for integration tests.

All fixtures are session-scoped: each server is started once, on a free 127.0.0.1 port in a
fresh temporary directory, and stopped (only the processes we started) at session end.

* ``tls_material``     -> TlsMaterial: throwaway CA + server cert (openssl CLI)
* ``postgres_server``  -> PostgresFactory: ``postgres_server(max_connections=100, *,
  superuser_reserved_connections=3) -> PostgresServer`` (cached per configuration)
* ``redis_server``     -> RedisServer: plain TCP + requirepass
* ``redis_tls_server`` -> RedisServer: TLS only (port 0 + tls-port) + requirepass
* ``redis_cluster``    -> RedisClusterServer: 3 masters, requirepass/masterauth, cluster_state:ok
* ``redis_tls_cluster`` -> RedisClusterServer: the same over TLS (clients and cluster bus)

Every Redis fixture's password is a :func:`~.servers.hostile_secret` (``@:/?#[]%``, space, quotes, non-ASCII),
so any URI built from it must be percent-encoded to work.

Missing binaries fail the tests (with or without ``CI`` set); they are never skipped.
Every test collected below this directory gets the ``integration`` marker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import (
    PostgresFactory,
    PostgresServer,
    RedisClusterServer,
    RedisServer,
    TlsMaterial,
    hostile_secret,
    make_tls_material,
    redis_supports_tls,
    start_redis,
    start_redis_cluster,
)

_HERE = Path(__file__).parent.resolve()
#: (label, seconds) of every server started in this session, printed in the terminal summary.
_STARTUP_TIMES: list[tuple[str, float]] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _STARTUP_TIMES:
        terminalreporter.section("integration server startup (wall time)")
        for label, seconds in _STARTUP_TIMES:
            terminalreporter.write_line(f"{seconds:7.2f}s  {label}")


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """Throwaway CA and a server certificate for 127.0.0.1 / localhost."""
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def postgres_server(tls_material: TlsMaterial) -> Iterator[PostgresFactory]:
    """Factory: ``postgres_server(max_connections=..., superuser_reserved_connections=3)``.

    Returns a :class:`~.servers.PostgresServer` (host, port, superuser, superuser_password,
    max_connections, superuser_reserved_connections, ca_cert, ...). One server per distinct
    configuration per session; all are stopped with ``pg_ctl stop -m fast`` at session end.
    """

    def record(server: PostgresServer) -> None:
        _STARTUP_TIMES.append(
            (
                f"postgres :{server.port} max_connections={server.max_connections} "
                f"superuser_reserved_connections={server.superuser_reserved_connections} ({server.version})",
                server.startup_seconds,
            )
        )

    factory = PostgresFactory(tls=tls_material, on_start=record)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def postgres(postgres_server: PostgresFactory) -> PostgresServer:
    """The default Postgres 15 of the session (TLS only, scram), shared by the tests that need just one."""
    return postgres_server()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """redis-server on plain TCP with ``requirepass``."""
    server = start_redis(name="redis", password=hostile_secret())
    _STARTUP_TIMES.append((f"redis (plain) :{server.port}", server.startup_seconds))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_tls_supported() -> bool:
    return redis_supports_tls()


@pytest.fixture(scope="session")
def redis_tls_server(tls_material: TlsMaterial, redis_tls_supported: bool) -> Iterator[RedisServer]:
    """redis-server listening only on TLS (``port 0``, ``tls-port``), ``tls-auth-clients no``."""
    if not redis_tls_supported:
        pytest.fail("this redis-server was built without TLS support (BUILD_TLS=yes is required)", pytrace=False)
    server = start_redis(tls=tls_material, name="redis-tls", password=hostile_secret())
    _STARTUP_TIMES.append((f"redis (TLS) :{server.port}", server.startup_seconds))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServer]:
    """Three-master Redis Cluster with ``requirepass``/``masterauth`` (plain TCP)."""
    cluster = start_redis_cluster(masters=3, password=hostile_secret())
    _STARTUP_TIMES.append((f"redis cluster (3 masters) :{cluster.ports}", cluster.startup_seconds))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_tls_cluster(tls_material: TlsMaterial, redis_tls_supported: bool) -> Iterator[RedisClusterServer]:
    """Three-master Redis Cluster, TLS only (``tls-cluster yes``), ``tls-auth-clients no``."""
    if not redis_tls_supported:
        pytest.fail("this redis-server was built without TLS support (BUILD_TLS=yes is required)", pytrace=False)
    cluster = start_redis_cluster(masters=3, tls=tls_material, password=hostile_secret())
    _STARTUP_TIMES.append((f"redis cluster TLS (3 masters) :{cluster.ports}", cluster.startup_seconds))
    try:
        yield cluster
    finally:
        cluster.stop()
