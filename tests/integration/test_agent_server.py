"""The Agent Server itself runs on the environment our library renders.

``langgraph-api`` 0.11.1 with the MIT ``langgraph-runtime-pg`` runtime (its own locked environment,
``tests/integration/server``) is started with ``render_env``'s output for a validated stack whose data-store
facts are the local TLS-only Postgres and the TLS-only Redis (hostile AUTH token), plus only what is not ours to
render (see :data:`.agent_server_process.NOT_OURS`). Limits of that runtime, not of the library, shape the setup:

* a ``%`` in ``DATABASE_URI`` breaks its Alembic migration (configparser interpolation), so the Postgres password
  is URL-safe, like the ones the components generate (letters, digits, ``-_.~``);
* ``BG_JOB_ISOLATED_LOOPS=true`` breaks its runs, so the stack keeps the default (false);
* it ignores ``REDIS_KEY_PREFIX`` and ``LANGGRAPH_POSTGRES_POOL_MAX_SIZE`` (it sizes with ``PG_POOL_SIZE``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from .agent_server_process import AgentServerProcess, server_version, start_agent_server
from .deployments import Deployment, deploy, generated_password, render, server_stack
from .deployments import postgres_facts as facts_for_postgres
from .deployments import redis_facts as facts_for_redis
from .servers import PostgresServer, RedisServer, TlsMaterial

GRAPHS = {"echo": f"{Path(__file__).parent / 'graphs' / 'echo.py'}:graph"}
MOUNT_PREFIX = "/agents"
#: What langgraph-runtime-pg 0.11.1.post1 creates: its Alembic schema plus the checkpointer's and store's tables.
TABLES = frozenset({
    "alembic_version", "assistant_versions", "assistants", "checkpoint_blobs", "checkpoint_migrations",
    "checkpoint_writes", "checkpoints", "crons", "retry_counters", "runs", "store", "store_items",
    "store_migrations", "threads",
})


def _raw() -> dict[str, Any]:
    return server_stack("agents", mount_prefix=MOUNT_PREFIX, prefix="it-server:", database=1)


@dataclass(frozen=True)
class Booted:
    server: AgentServerProcess
    deployment: Deployment
    postgres: PostgresServer
    redis: RedisServer


@pytest.fixture(scope="module")
def booted(
    postgres: PostgresServer,
    redis_tls_server: RedisServer,
    tls_material: TlsMaterial,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Booted]:
    # One process serves the API and runs the queue, so it gets the queue role's env (N_JOBS_PER_WORKER from
    # config; the api role renders 0 and would never execute a run).
    deployment = deploy(_raw(), postgres=postgres, redis=redis_tls_server, password=generated_password(),
                        role="queue")
    with start_agent_server(deployment.env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert,
                            directory=tmp_path_factory.mktemp("agent-server")) as server:
        yield Booted(server=server, deployment=deployment, postgres=postgres, redis=redis_tls_server)


def test_rendered_env_is_what_the_server_gets(booted: Booted) -> None:
    env = booted.deployment.env
    stack = booted.deployment.stack
    assert stack.config.server.server_version == server_version()
    assert env.plain["MOUNT_PREFIX"] == MOUNT_PREFIX
    assert env.plain["N_JOBS_PER_WORKER"] == "2"
    assert env.plain["LOG_JSON"] == "true"
    assert env.plain["LANGSMITH_TRACING"] == "false"
    assert env.plain["BG_JOB_ISOLATED_LOOPS"] == "false"
    assert env.secret["DATABASE_URI"].endswith("?sslmode=require")
    assert env.secret["REDIS_URI"].startswith("rediss://")
    assert env.secret["REDIS_URI"].endswith("/1")
    assert "%" in env.secret["REDIS_URI"]  # the hostile AUTH token, percent-encoded


def test_ok_under_the_mount_prefix(booted: Booted) -> None:
    server = booted.server
    assert server.request("GET", "/ok") == (200, {"ok": True})
    status, info = server.request("GET", "/info")
    assert status == 200
    assert info["version"] == server_version()
    # The API lives only under the prefix; the server keeps its health checks at the root as well.
    assert server.request("GET", "/info", prefixed=False)[0] == 404
    assert server.request("GET", "/ok", prefixed=False) == (200, {"ok": True})


def test_a_run_completes(booted: Booted) -> None:
    server = booted.server
    status, thread = server.request("POST", "/threads", {})
    assert status == 200, thread
    thread_id = thread["thread_id"]
    status, result = server.request("POST", f"/threads/{thread_id}/runs/wait",
                                    {"assistant_id": "echo", "input": {"message": "hi"}}, timeout=60)
    assert (status, result) == (200, {"message": "echo: hi"})
    status, runs = server.request("GET", f"/threads/{thread_id}/runs")
    assert status == 200
    assert [run["status"] for run in runs] == ["success"]
    # The queue woke up through Redis: the server authenticated with the rendered rediss:// URI.
    client = booted.redis.client(db=1)
    try:
        raw_channels: list[Any] = client.pubsub_channels()
        channels = {channel.decode() if isinstance(channel, bytes) else str(channel) for channel in raw_channels}
    finally:
        client.close()
    assert any(channel.endswith("langgraph:run_queue") for channel in channels), channels


def test_schema_created_in_the_rendered_database(booted: Booted) -> None:
    config = booted.deployment.stack.config.postgres
    with booted.postgres.connect(config.database_name) as conn:
        rows = conn.execute(
            "SELECT table_name, pg_get_userbyid(c.relowner) FROM information_schema.tables t "
            "JOIN pg_class c ON c.relname = t.table_name AND c.relnamespace = 'public'::regnamespace "
            "WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        ).fetchall()
    assert {name for name, _ in rows} == TABLES
    assert len(rows) == 14
    assert {owner for _, owner in rows} == {config.username}  # created by the app role of the rendered URI


def test_wrong_password_exits_with_the_authentication_error(
    postgres: PostgresServer,
    redis_tls_server: RedisServer,
    tls_material: TlsMaterial,
    tmp_path: Path,
) -> None:
    password = generated_password()
    right = deploy(_raw(), postgres=postgres, redis=redis_tls_server, password=password, role="queue")
    stack = right.stack
    wrong = render(stack, facts_for_postgres(postgres, stack, password + "x"), facts_for_redis(redis_tls_server),
                   role="queue")
    assert wrong.env.secret["DATABASE_URI"] != right.env.secret["DATABASE_URI"]
    server = start_agent_server(wrong.env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert,
                                directory=tmp_path, wait_ready=False)
    code = server.wait_exit()
    output = server.output()
    assert code != 0, output[-2000:]
    # LOG_JSON=true: the message sits in a JSON string, its quotes escaped.
    user = re.escape(stack.config.postgres.username)
    assert re.search(rf'password authentication failed for user \\?"{user}\\?"', output), output[-2000:]
    # The role itself is fine: the right URI logs in.
    with psycopg.connect(right.env.secret["DATABASE_URI"], connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (stack.config.postgres.username,)

