"""The Postgres connection budget is safe and tight against a real Postgres sized like the RDS class.

A real PostgreSQL 15 runs with ``max_connections`` = what ``sizing.rds_max_connections`` computes for the class
and the superuser reservation RDS has. The app role (a non-superuser, like the RDS master user is not a
superuser) then opens, with the rendered ``DATABASE_URI``, every connection the budget lets the deployment hold
at its maximum scale — they all fit — and keeps opening until the server refuses: the refusal point is the real
limit, and one more replica's pool does not fit under it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from agent_server_infra.errors import ConfigError
from agent_server_infra.sizing import RESERVED_CONNECTIONS, Pods, rds_max_connections
from agent_server_infra.validate import validate_stack

from .deployments import create_app_database, postgres_facts, raw_stack, redis_facts, render
from .servers import HOSTILE_SECRET, PostgresFactory, PostgresServer, RedisServer

INSTANCE_CLASS = "db.t4g.micro"
#: Slots RDS keeps from ordinary roles: ``superuser_reserved_connections`` (3) plus
#: ``rds.rds_superuser_reserved_connections`` (2). Community Postgres 15 has only the first setting, so the test
#: server gets ``superuser_reserved_connections = 5``: it then refuses a non-superuser exactly where RDS would.
#: Spelled out here (not taken from sizing) so a wrong ``RESERVED_CONNECTIONS`` fails the test.
RDS_RESERVED_FOR_SUPERUSERS = 3 + 2
#: The budget's documented policy: 10 % of the connections an app role may open stay free.
USABLE_SHARE = 0.9
#: The shape at the budget's maximum scale: one replica per role (autoscaler ceiling 1), plus one surge pod each
#: during a rolling update: 4 pods. On db.t4g.micro the derived pool fills the budget exactly.
API_REPLICAS, QUEUE_REPLICAS = 1, 1
OPEN_CONCURRENCY = 16
REFUSED = "remaining connection slots are reserved"


def _raw(api_max: int, queue_max: int, pool: int | None = None, names: dict[str, str] | None = None) -> dict[str, Any]:
    server: dict[str, Any] = {
        "bgJobIsolatedLoops": False,
        "api": {"replicas": api_max},
        "queue": {"replicas": queue_max},
        "postgresPoolMaxSize": pool,
    }
    raw = raw_stack(postgres={"instanceClass": INSTANCE_CLASS, **(names or {})}, server=server)
    if pool is None:
        del raw["server"]["postgresPoolMaxSize"]  # derived from the budget
    return raw


def _connect(uri: str) -> psycopg.Connection[Any]:
    return psycopg.connect(uri, connect_timeout=10, autocommit=True)


@contextmanager
def _held() -> Iterator[list[psycopg.Connection[Any]]]:
    """A list of open connections that are all closed on exit, whatever happens."""
    connections: list[psycopg.Connection[Any]] = []
    try:
        yield connections
    finally:
        for conn in connections:
            conn.close()


def _open_concurrently(uri: str, count: int, into: list[psycopg.Connection[Any]]) -> None:
    """Open ``count`` connections, at most OPEN_CONCURRENCY at a time; every one must succeed."""
    with ThreadPoolExecutor(max_workers=OPEN_CONCURRENCY) as pool:
        futures = [pool.submit(_connect, uri) for _ in range(count)]
        errors: list[BaseException] = []
        for future in futures:
            try:
                into.append(future.result())
            except BaseException as exc:
                errors.append(exc)
    if errors:
        raise AssertionError(f"{len(errors)} of {count} budgeted connections failed, first: {errors[0]!r}")


def _superuser_connect(server: PostgresServer, attempts: int = 20) -> psycopg.Connection[Any]:
    """A superuser connection; retried briefly while backends we just had refused are still exiting."""
    for attempt in range(attempts):
        try:
            return server.connect()
        except psycopg.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def budget_server(postgres_server: PostgresFactory) -> PostgresServer:
    return postgres_server(
        rds_max_connections(INSTANCE_CLASS), superuser_reserved_connections=RDS_RESERVED_FOR_SUPERUSERS
    )


def test_budget_fits_and_one_more_replica_does_not(budget_server: PostgresServer, redis_server: RedisServer) -> None:
    stack = validate_stack(_raw(API_REPLICAS, QUEUE_REPLICAS))
    budget, pods = stack.connections.postgres, stack.connections.pods
    assert budget.capacity == budget_server.max_connections == rds_max_connections(INSTANCE_CLASS)

    password = HOSTILE_SECRET
    create_app_database(budget_server, stack, password)
    deployment = render(stack, postgres_facts(budget_server, stack, password), redis_facts(redis_server), role="api")
    uri = deployment.env.secret["DATABASE_URI"]
    pool = int(deployment.env.plain["LANGGRAPH_POSTGRES_POOL_MAX_SIZE"])
    used = pods.total * pool
    assert pool == budget.per_replica
    assert used == budget.used  # no isolated loops: every pod holds one pool
    one_more_replica = Pods(api_max=pods.api_max + 1, queue_max=pods.queue_max)
    extra = (one_more_replica.total - pods.total) * pool
    assert extra > 0

    with _held() as held:
        # 1. Everything the budget allows at full scale (autoscaler ceilings plus surge) connects as the app role.
        _open_concurrently(uri, used, held)
        assert len(held) == used
        # (asked on a held connection: a probe closed now could still hold its slot during step 2)
        row = held[0].execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row == (False,)  # the refusal below applies to ordinary roles only
        # 2. The next replica's pool, one connection at a time (concurrent attempts at the limit would race for
        #    slots): the server refuses at its real limit for ordinary roles.
        refusals: list[str] = []
        for _ in range(extra):
            try:
                held.append(_connect(uri))
            except psycopg.OperationalError as exc:
                refusals.append(str(exc))
        hard_limit = len(held)
        assert refusals, f"one more replica ({extra} connections) fitted: the budget is loose"
        assert all(REFUSED in message for message in refusals), refusals[0]
        assert hard_limit == budget_server.max_connections - RESERVED_CONNECTIONS  # sizing's reservation is real
        # 3. The reserved slots are still there for an administrator while the app is at its limit.
        with _superuser_connect(budget_server) as admin:
            app_user = stack.config.postgres.username
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (app_user,)).fetchone()
            assert row == (hard_limit,)

    # Safe: the budget never exceeds the real limit. Tight: it keeps only the 10 % headroom, so the derived pool
    # fills it and one more replica at that pool would not fit the real server, let alone the budget.
    assert budget.used <= budget.usable == math.floor(hard_limit * USABLE_SHARE) < hard_limit
    assert pods.total * (pool + 1) > budget.usable
    assert budget.used + extra > hard_limit

    # The budget says so before anything is deployed: with the pool pinned, one more replica is rejected; with a
    # derived pool, the pool shrinks until the bigger shape fits again.
    names = {"databaseName": stack.config.postgres.database_name, "username": stack.config.postgres.username}
    with pytest.raises(ConfigError, match=re.escape("connection budget exceeded")):
        validate_stack(_raw(API_REPLICAS + 1, QUEUE_REPLICAS, pool=pool, names=names))
    bigger = validate_stack(_raw(API_REPLICAS + 1, QUEUE_REPLICAS, names=names)).connections
    assert bigger.pool_max_size < pool
    assert bigger.postgres.used <= bigger.postgres.usable
